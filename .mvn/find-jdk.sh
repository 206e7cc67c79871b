# Sourced by ./mvnw, ./demo, ./cli-demo and ./bench: make JAVA_HOME point at a JDK 21 or newer.
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

# The flags the launchers pass to java, one per line (after volume_clone_find_jdk):
#   mapfile -t jvm_flags < <(volume_clone_jvm_flags)
# The same flags as the volume-clone launcher (bin/volume-clone-jvm-flags says why).
volume_clone_jvm_flags() {
  bin/volume-clone-jvm-flags "$JAVA_HOME/bin/java"
}

# volume_clone_build_if_stale JAR MODULE...: from the project root, builds JAR with
# './mvnw -B -q -DskipTests -pl MODULE,... -am package' when it is missing or older than
# what goes into it: the root pom.xml and each MODULE's pom.xml, src/main (tests do not
# go into a jar) and top-level *.yml (crds' checked-in CRD is packed into the demo jar).
# List every module whose main code ends up in JAR.
volume_clone_build_if_stale() {
  local jar why newer modules m
  jar=$1
  shift
  why=""
  if [ ! -f "$jar" ]; then
    why="$jar is missing"
  else
    newer=$(find pom.xml -newer "$jar" -print 2>/dev/null) || true
    for m in "$@"; do
      [ -n "$newer" ] && break
      newer=$(find "$m/pom.xml" "$m/src/main" -newer "$jar" -print -quit 2>/dev/null) || true
      [ -n "$newer" ] || newer=$(find "$m" -maxdepth 1 -name '*.yml' -newer "$jar" -print -quit 2>/dev/null) || true
    done
    [ -z "$newer" ] || why="$newer changed since $jar was built"
  fi
  [ -n "$why" ] || return 0
  modules=""
  for m in "$@"; do modules="${modules:+$modules,}$m"; done
  echo "== building $jar: $why" >&2
  ./mvnw -B -q -DskipTests -pl "$modules" -am package || return 1
  # A jar plugin that found nothing to repackage leaves the old jar's time; the jar is
  # current now, so the next run must not rebuild it again.
  touch "$jar"
}
