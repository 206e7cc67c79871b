package io.volumeclone.e2e;

import io.volumeclone.api.v1alpha1.status.Phase;
import io.volumeclone.testing.HostRequirements;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** A clone whose source is a remote NBD export: nbdkit's file plugin serving an image. */
class NbdSourceIT {

  @Test
  void cloneFromAnNbdkitExport() throws Exception {
    HostRequirements.require("nbdkit", "nbdkit");
    String ns = E2e.namespace("nbdsrc");
    int size = 16 << 20;
    Path image = E2e.randomDevice(ns + "-backup.img", size, 61);
    Path dst = E2e.emptyDevice(ns + "-dst", size);
    Path socket = Files.createTempDirectory(Path.of("/tmp"), "vc-nbdkit").resolve("s");
    Process nbdkit =
        new ProcessBuilder(
                List.of(
                    "/usr/bin/nbdkit",
                    "--foreground",
                    "--readonly",
                    "--unix",
                    socket.toString(),
                    "file",
                    image.toString()))
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.DISCARD)
            .start();
    try {
      E2e.await("nbdkit's socket", () -> Files.exists(socket), b -> b);
      String uri = "nbd+unix:///?socket=" + socket;
      E2e.apply(Manifests.nbdClone(ns, "fromnbd", uri, dst, ""));
      E2e.awaitClone(ns, "fromnbd", "phase Completed", c -> Clones.phase(c, Phase.Completed));
      Clones.assertSameBytes(image, dst);
    } finally {
      nbdkit.destroy();
      nbdkit.waitFor(10, TimeUnit.SECONDS);
    }
  }
}
