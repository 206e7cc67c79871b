package io.volumeclone.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.volumeclone.engine.CloneTuning;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The control socket's protocol, server and client, and their error paths, without a clone. */
class ControlSocketTest {

  @TempDir Path runDir;

  final List<ControlServer> servers = new ArrayList<>();

  @AfterEach
  void closeServers() {
    servers.forEach(ControlServer::close);
  }

  /** Answers status with its name, refuses everything else. */
  ControlServer start(String name) throws Exception {
    ControlServer server =
        ControlServer.start(
            runDir,
            name,
            request -> {
              if (!request.get("command").asText().equals(ControlProtocol.STATUS)) {
                throw new ControlProtocol.RefusedException("only status here");
              }
              ObjectNode clone = ControlProtocol.JSON.createObjectNode();
              clone.put("name", name);
              clone.put("phase", "COPYING");
              return ControlProtocol.ok(clone);
            });
    servers.add(server);
    return server;
  }

  /** A socket file nobody listens on, as a killed process leaves it. */
  Path staleSocket(String name) throws Exception {
    Path socket = ControlPaths.socket(runDir, name);
    Files.createDirectories(socket.getParent());
    try (ServerSocketChannel dead = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
      dead.bind(UnixDomainSocketAddress.of(socket));
    }
    assertThat(socket).exists();
    return socket;
  }

  @Test
  void theSocketIsMode0600InADirectoryOfMode0700AndCloseRemovesBoth() throws Exception {
    ControlServer server = start("db");
    Path socket = server.socket();
    assertThat(socket).isEqualTo(runDir.resolve("db").resolve("control.sock"));
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(socket)))
        .isEqualTo("rw-------");
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(socket.getParent())))
        .isEqualTo("rwx------");
    server.close();
    assertThat(socket).doesNotExist();
    assertThat(socket.getParent()).doesNotExist();
  }

  @Test
  void requestsAndRepliesAreJsonLinesAndABadLineKeepsTheConnection() throws Exception {
    Path socket = start("db").socket();
    try (SocketChannel channel = SocketChannel.open(UnixDomainSocketAddress.of(socket));
        BufferedReader in =
            new BufferedReader(
                new InputStreamReader(Channels.newInputStream(channel), StandardCharsets.UTF_8));
        OutputStream out = Channels.newOutputStream(channel)) {
      out.write(
          "not json\n[1]\n{\"x\":1}\n{\"command\":\"tune\"}\n{\"command\":\"status\"}\n"
              .getBytes(StandardCharsets.UTF_8));
      out.flush();
      assertThat(reply(in).get("error").asText()).startsWith("request is not JSON");
      assertThat(reply(in).get("error").asText()).contains("must be a JSON object");
      assertThat(reply(in).get("error").asText()).contains("has no \"command\"");
      assertThat(reply(in).get("error").asText()).isEqualTo("only status here");
      JsonNode ok = reply(in);
      assertThat(ok.get("ok").asBoolean()).isTrue();
      assertThat(ok.get("version").asInt()).isEqualTo(ControlProtocol.VERSION);
      assertThat(ok.at("/clone/name").asText()).isEqualTo("db");
    }
  }

  private static JsonNode reply(BufferedReader in) throws Exception {
    String line = in.readLine();
    assertThat(line).as("a reply line").isNotNull();
    return ControlProtocol.JSON.readTree(line);
  }

  @Test
  void anUnknownNameIsAnErrorListingTheRunningClones() throws Exception {
    start("alpha");
    start("beta");
    assertThatThrownBy(() -> RunningClones.call(runDir, "gamma", ControlProtocol.request("status")))
        .hasMessageContaining("no clone named 'gamma' is running")
        .hasMessageContaining("alpha, beta");
    assertThatThrownBy(() -> RunningClones.call(runDir, "../x", ControlProtocol.request("status")))
        .isInstanceOf(Main.UsageException.class)
        .hasMessageContaining("invalid clone name '../x'");
  }

  @Test
  void aStaleSocketIsReportedAndRemovedByCallsAndByList() throws Exception {
    start("alive");
    Path stale = staleSocket("dead");
    assertThatThrownBy(() -> RunningClones.call(runDir, "dead", ControlProtocol.request("status")))
        .hasMessageContaining("clone 'dead' is not running")
        .hasMessageContaining(stale.toString())
        .hasMessageContaining("stale")
        .hasMessageContaining("removed")
        .hasMessageContaining("running under " + runDir + ": alive");
    assertThat(stale).doesNotExist();

    Path again = staleSocket("dead");
    RunningClones.Scan scan = RunningClones.scan(runDir);
    assertThat(scan.running()).extracting(RunningClones.Entry::name).containsExactly("alive");
    assertThat(scan.problems())
        .singleElement()
        .asString()
        .contains("clone 'dead' is not running")
        .contains("stale")
        .contains("removed");
    assertThat(again).doesNotExist();
  }

  @Test
  void aLiveNameIsRefusedAndAStaleOneIsTakenOver() throws Exception {
    start("db");
    assertThatThrownBy(() -> start("db"))
        .isInstanceOf(ControlServer.NameInUseException.class)
        .hasMessageContaining("a clone named 'db' is already running")
        .hasMessageContaining("--name");
    staleSocket("old");
    ControlServer server = start("old");
    assertThat(ControlClient.answers(server.socket())).isTrue();
  }

  @Test
  void tuneRequestsBecomeOneCloneTuningAndBadValuesNameTheField() throws Exception {
    ObjectNode request = ControlProtocol.request("tune");
    request.put("bandwidth", "4Mi");
    request.put("regionsInFlight", 3);
    request.put("paused", true);
    request.put("hotRegionsFirst", false);
    assertThat(CloneControl.tuningOf(request))
        .isEqualTo(new CloneTuning(true, 4L << 20, 3, null, null, false));
    assertThat(CloneControl.tuningOf(ControlProtocol.request("tune"))).isEqualTo(CloneTuning.NONE);

    ObjectNode bad = ControlProtocol.request("tune");
    bad.put("batchRegions", "many");
    assertThatThrownBy(() -> CloneControl.tuningOf(bad))
        .hasMessageContaining("batchRegions must be a whole number");
    ObjectNode zero = ControlProtocol.request("tune");
    zero.put("regionsInFlight", 0);
    assertThatThrownBy(() -> CloneControl.tuningOf(zero)).hasMessageContaining("regions in flight");
    ObjectNode flag = ControlProtocol.request("tune");
    flag.put("copyOnRead", "yes");
    assertThatThrownBy(() -> CloneControl.tuningOf(flag))
        .hasMessageContaining("copyOnRead must be true or false");
  }

  @Test
  void namesAreCheckedAndDerivedFromTheDestination() {
    assertThat(ControlPaths.invalidName("db-copy.1")).isNull();
    assertThat(ControlPaths.invalidName("a/b")).isNotNull();
    assertThat(ControlPaths.invalidName("..")).isNotNull();
    assertThat(ControlPaths.invalidName("")).isNotNull();
    assertThat(ControlPaths.nameFromDestination(Path.of("/dev/mapper/vg-data")))
        .isEqualTo("vg-data");
    assertThat(ControlPaths.nameFromDestination(Path.of("/tmp/my disk.img")))
        .isEqualTo("my_disk.img");
    assertThat(ControlPaths.nameFromDestination(Path.of("/tmp/.hidden"))).isEqualTo("clone.hidden");
  }

  @Test
  void commandLineErrorsOfTheControlCommandsAreUsageErrors() {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
    int code =
        Main.run(
            new java.io.PrintStream(out),
            new java.io.PrintStream(err),
            "tune",
            "db",
            "--run-dir",
            runDir.toString());
    assertThat(code).isEqualTo(Main.EXIT_USAGE);
    assertThat(err.toString()).contains("nothing to tune");
    err.reset();
    code =
        Main.run(
            new java.io.PrintStream(out),
            new java.io.PrintStream(err),
            "cancel",
            "nobody",
            "--run-dir",
            runDir.toString());
    assertThat(code).isEqualTo(Main.EXIT_FAILURE);
    assertThat(err.toString())
        .contains("no clone named 'nobody' is running")
        .contains("no clone is running under " + runDir);
    err.reset();
    code = Main.run(new java.io.PrintStream(out), new java.io.PrintStream(err), "status");
    assertThat(code).isEqualTo(Main.EXIT_USAGE);
    assertThat(err.toString()).contains("status needs a clone NAME or --metadata M");
  }
}
