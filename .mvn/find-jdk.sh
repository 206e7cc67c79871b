# Sourced by ./mvnw and ./demo: make JAVA_HOME point at a JDK 21 or newer.
# The machines this project is built on default to Java 17 with a newer JDK
# installed beside it, so look where distributions put JDKs before giving up.
volume_clone_java_major() {
  "$1/bin/java" -XshowSettings:properties -version 2>&1 |
    sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p' | head -n 1
}
volume_clone_find_jdk() {
  if [ -n "${JAVA_HOME-}" ] && [ -x "$JAVA_HOME/bin/javac" ]; then
    v=$(volume_clone_java_major "$JAVA_HOME")
    if [ -n "$v" ] && [ "$v" -ge 21 ]; then return 0; fi
  fi
  best=""; best_v=0
  # mvnw runs with globbing off (set -f); this search needs it.
  case $- in *f*) had_noglob=1; set +f ;; *) had_noglob=0 ;; esac
  for d in /usr/lib/jvm/* /usr/java/* /opt/java/* /opt/jdk* "$HOME"/.sdkman/candidates/java/* "$HOME"/.jdks/*; do
    [ -x "$d/bin/javac" ] || continue
    v=$(volume_clone_java_major "$d")
    [ -n "$v" ] || continue
    if [ "$v" -ge 21 ] && [ "$v" -gt "$best_v" ]; then best="$d"; best_v="$v"; fi
  done
  [ "$had_noglob" = 0 ] || set -f
  if [ -z "$best" ] && command -v javac >/dev/null 2>&1; then
    d=$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")
    v=$(volume_clone_java_major "$d")
    if [ -n "$v" ] && [ "$v" -ge 21 ]; then best="$d"; fi
  fi
  if [ -z "$best" ]; then
    echo "volume-clone: no JDK 21 or newer found (looked at JAVA_HOME, /usr/lib/jvm, /opt/java, ~/.sdkman)." >&2
    echo "volume-clone: install one, e.g. 'apt-get install openjdk-21-jdk-headless' (Debian 13 / Ubuntu 24.04)" >&2
    echo "volume-clone: or a Temurin 21+ JDK, then set JAVA_HOME to it." >&2
    return 1
  fi
  JAVA_HOME="$best"
  export JAVA_HOME
}
