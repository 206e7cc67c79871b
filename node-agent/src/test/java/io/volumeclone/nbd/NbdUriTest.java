package io.volumeclone.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class NbdUriTest {

  @Test
  void tcpUriWithPortAndExport() {
    NbdUri u = NbdUri.parse("nbd://backup.example:10810/db-2024");
    assertThat(u.host()).isEqualTo("backup.example");
    assertThat(u.port()).isEqualTo(10810);
    assertThat(u.exportName()).isEqualTo("db-2024");
    assertThat(u.isUnix()).isFalse();
  }

  @Test
  void tcpUriDefaultsToPort10809AndTheEmptyExport() {
    NbdUri u = NbdUri.parse("nbd://10.0.0.5");
    assertThat(u.port()).isEqualTo(10809);
    assertThat(u.exportName()).isEmpty();
    assertThat(NbdUri.parse("nbd://[::1]:7000/x").host()).isEqualTo("::1");
  }

  @Test
  void unixUriWithSocketAndPercentEncodedExport() {
    NbdUri u = NbdUri.parse("nbd+unix:///my%20disk?socket=/run/nbd/s.sock");
    assertThat(u.socket()).isEqualTo(Path.of("/run/nbd/s.sock"));
    assertThat(u.exportName()).isEqualTo("my disk");
    assertThat(NbdUri.parse("nbd+unix://?socket=/s").exportName()).isEmpty();
  }

  @Test
  void badUrisAreRefusedQuotingTheUri() {
    assertThatThrownBy(() -> NbdUri.parse("nbd+unix:///x"))
        .hasMessageContaining("'nbd+unix:///x'")
        .hasMessageContaining("?socket=PATH");
    assertThatThrownBy(() -> NbdUri.parse("http://h/x"))
        .hasMessageContaining("'http://h/x'")
        .hasMessageContaining("scheme 'http'");
    assertThatThrownBy(() -> NbdUri.parse("nbds://h/x")).hasMessageContaining("TLS");
    assertThatThrownBy(() -> NbdUri.parse("nbd:///x")).hasMessageContaining("no host");
    assertThatThrownBy(() -> NbdUri.parse("/dev/sda")).hasMessageContaining("no scheme");
    assertThatThrownBy(() -> NbdUri.parse("nbd://h:99999/x"))
        .hasMessageContaining("'nbd://h:99999/x'");
    assertThatThrownBy(() -> NbdUri.parse("nbd+unix:///x?socket=/s&tls=on"))
        .hasMessageContaining("unknown parameter 'tls'");
    assertThatThrownBy(() -> NbdUri.parse(" ")).hasMessageContaining("empty");
  }
}
