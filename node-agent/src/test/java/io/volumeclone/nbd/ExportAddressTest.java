package io.volumeclone.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class ExportAddressTest {

  @Test
  void parsesUnixAndTcpAddresses() {
    assertThat(ExportAddress.parse("unix:/var/lib/volume-clone/ns/c/nbd.sock"))
        .isEqualTo(new ExportAddress.Unix(Path.of("/var/lib/volume-clone/ns/c/nbd.sock")));
    assertThat(ExportAddress.parse("tcp:127.0.0.1:10809"))
        .isEqualTo(new ExportAddress.Tcp("127.0.0.1", 10809));
    assertThat(ExportAddress.parse("tcp:[::1]:0")).isEqualTo(new ExportAddress.Tcp("::1", 0));
    assertThat(ExportAddress.parse("tcp:[::1]:0").toString()).isEqualTo("tcp:[::1]:0");
  }

  @Test
  void nbdUrisNameTheExportAndBracketIpv6Hosts() {
    assertThat(ExportAddress.parse("unix:/run/vc.sock").nbdUri(""))
        .isEqualTo("nbd+unix:///?socket=/run/vc.sock");
    assertThat(ExportAddress.parse("unix:/run/vc.sock").nbdUri("disk"))
        .isEqualTo("nbd+unix:///disk?socket=/run/vc.sock");
    assertThat(ExportAddress.parse("tcp:127.0.0.1:10809").nbdUri(""))
        .isEqualTo("nbd://127.0.0.1:10809");
    assertThat(ExportAddress.parse("tcp:[::1]:10809").nbdUri("disk"))
        .isEqualTo("nbd://[::1]:10809/disk");
    for (String uri :
        new String[] {
          ExportAddress.parse("unix:/run/vc.sock").nbdUri("disk"),
          ExportAddress.parse("tcp:[::1]:10809").nbdUri("disk")
        }) {
      assertThat(NbdUri.parse(uri).exportName()).as(uri).isEqualTo("disk");
    }
  }

  @Test
  void refusesAddressesWithoutExplicitHostPortOrKind() {
    assertThatThrownBy(() -> ExportAddress.parse("tcp:10809"))
        .hasMessageContaining("'tcp:10809'")
        .hasMessageContaining("explicit host and port");
    assertThatThrownBy(() -> ExportAddress.parse("tcp:host:http"))
        .hasMessageContaining("not a number");
    assertThatThrownBy(() -> ExportAddress.parse("tcp:host:70000"))
        .hasMessageContaining("outside 0..65535");
    assertThatThrownBy(() -> ExportAddress.parse("unix:")).hasMessageContaining("no socket path");
    assertThatThrownBy(() -> ExportAddress.parse("/tmp/s.sock"))
        .hasMessageContaining("must start with unix: or tcp:");
    assertThatThrownBy(() -> ExportAddress.parse("")).hasMessageContaining("empty");
  }
}
