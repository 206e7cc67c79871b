package io.volumeclone.nbd;

import static io.volumeclone.nbd.ExternalTools.run;
import static io.volumeclone.testing.HostRequirements.require;
import static io.volumeclone.testing.HostRequirements.requireRoot;
import static org.assertj.core.api.Assertions.assertThat;

import io.volumeclone.engine.CloneOptions;
import io.volumeclone.engine.CloneTuning;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * As root: the export of a clone that is still copying becomes a kernel block device through
 * nbdfuse and a loop device; ext4 is made and mounted on it and files are written. After the copy
 * finishes, the destination alone must hold a clean file system with the same files.
 */
@Timeout(600)
class NbdFuseIT {

  static final Duration T = Duration.ofSeconds(120);

  @TempDir Path dir;

  @Test
  void ext4OnTheExportWhileCopyingLandsOnTheDestination() throws Exception {
    requireRoot("nbdfuse, loop devices and mounts");
    require("nbdfuse", "libnbd-bin");
    require("losetup", "mount");
    require("mkfs.ext4", "e2fsprogs");
    require("e2fsck", "e2fsprogs");
    long size = 128L << 20;
    // A slow copy so everything below happens while regions are still uncopied.
    try (CloneExportFixture f =
        new CloneExportFixture(
            dir, size, 1 << 20, CloneOptions.builder("vol").bandwidth(4L << 20))) {
      Path fuse = Files.createDirectory(dir.resolve("fuse"));
      Path mnt = Files.createDirectory(dir.resolve("mnt"));
      Process nbdfuse =
          ExternalTools.start(
              List.of("nbdfuse", fuse.toString(), f.uri()), dir.resolve("nbdfuse.log"));
      List<String> cleanup = new ArrayList<>();
      String loop = null;
      try {
        Path file = fuse.resolve("nbd");
        for (int i = 0; i < 200 && !Files.exists(file); i++) {
          Thread.sleep(50);
        }
        assertThat(file).exists();
        loop = run(T, "losetup", "-f", "--show", file.toString()).ok().output().trim();
        // nodiscard: a discard of whole regions marks them copied, which would end the copy at
        // once.
        run(T, "mkfs.ext4", "-q", "-F", "-E", "nodiscard", loop).ok();
        run(T, "mount", loop, mnt.toString()).ok();
        List<String> sums = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
          Path data = mnt.resolve("file" + i);
          run(T, "dd", "if=/dev/urandom", "of=" + data, "bs=1M", "count=" + (2 + i), "status=none")
              .ok();
          sums.add(run(T, "sha256sum", data.toString()).ok().output().split("\\s+")[0]);
        }
        run(T, "sync").ok();
        assertThat(f.clone.copiedFuture().isDone())
            .as("copy still running while the files were written")
            .isFalse();
        run(T, "umount", mnt.toString()).ok();
        run(T, "losetup", "-d", loop).ok();
        loop = null;
        // As root, umount detaches the FUSE file system (fusermount may not be installed).
        run(T, "umount", fuse.toString()).ok();
        nbdfuse.waitFor(30, TimeUnit.SECONDS);

        f.clone.tune(CloneTuning.NONE.withBandwidth(0));
        f.clone.copiedFuture().get(300, TimeUnit.SECONDS);
        f.clone.flush();
        // The destination alone: a clean ext4 with the same files.
        run(T, "e2fsck", "-n", "-f", f.destination.toString()).ok();
        String destLoop =
            run(T, "losetup", "-f", "--show", "-r", f.destination.toString()).ok().output().trim();
        try {
          run(T, "mount", "-o", "ro", destLoop, mnt.toString()).ok();
          for (int i = 0; i < 5; i++) {
            assertThat(run(T, "sha256sum", mnt.resolve("file" + i).toString()).ok().output())
                .startsWith(sums.get(i));
          }
          run(T, "umount", mnt.toString()).ok();
        } finally {
          run(T, "losetup", "-d", destLoop);
        }
      } finally {
        run(T, "umount", mnt.toString());
        if (loop != null) {
          run(T, "losetup", "-d", loop);
        }
        run(T, "umount", fuse.toString());
        nbdfuse.destroy();
      }
    }
  }
}
