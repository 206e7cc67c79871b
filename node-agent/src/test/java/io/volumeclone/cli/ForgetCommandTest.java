package io.volumeclone.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.volumeclone.engine.CloneGeometry;
import io.volumeclone.engine.CloneIdentity;
import io.volumeclone.engine.DiskCloneMetadata;
import io.volumeclone.engine.FileBlockDevice;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code volume-clone forget}: only a completed clone's own metadata file goes. */
class ForgetCommandTest {

  @TempDir Path dir;

  private static final CloneGeometry GEOMETRY =
      new CloneGeometry(0, 0, 1 << 20, 64 << 10, 1 << 20, 1 << 20);

  private Path metadata(String name, String uid, boolean cutOver) throws Exception {
    Path state = Files.createDirectories(dir.resolve(name));
    Path file = state.resolve("metadata");
    Files.write(file, new byte[(int) DiskCloneMetadata.requiredSize(GEOMETRY)]);
    try (FileBlockDevice device = FileBlockDevice.openExclusive(file);
        DiskCloneMetadata md =
            DiskCloneMetadata.open(
                device,
                GEOMETRY,
                new CloneIdentity("VolumeClone db/" + name + " uid " + uid, "file dst"),
                false)) {
      if (cutOver) {
        md.setHydrated(0, GEOMETRY.size() / GEOMETRY.regionSize());
        md.markComplete(() -> {});
        md.markCutOver();
      } else {
        md.setHydrated(0, 2);
        md.commit(() -> {});
      }
    }
    return file;
  }

  @Test
  void aCutOverFileOfThatUidGoesWithItsEmptyDirectory() throws Exception {
    Path file = metadata("done", "uid-1", true);
    MainTest.Result result =
        MainTest.run("forget", "--metadata", file.toString(), "--uid", "uid-1");
    assertThat(result.code()).as(result.err()).isZero();
    assertThat(file).doesNotExist();
    assertThat(file.getParent()).doesNotExist();
    assertThat(result.out()).contains("of VolumeClone db/done uid uid-1 removed");
  }

  @Test
  void anotherClonesFileIsKeptAndTheMessageNamesBoth() throws Exception {
    Path file = metadata("reused", "uid-new", true);
    MainTest.Result result =
        MainTest.run("forget", "--metadata", file.toString(), "--uid", "uid-old");
    assertThat(result.code()).isEqualTo(1);
    assertThat(file).exists();
    assertThat(result.err())
        .contains("is kept: it belongs to VolumeClone db/reused uid uid-new")
        .contains("not to the VolumeClone with uid uid-old");
  }

  @Test
  void aCloneNotCutOverKeepsItsProgress() throws Exception {
    Path file = metadata("copying", "uid-2", false);
    MainTest.Result result =
        MainTest.run("forget", "--metadata", file.toString(), "--uid", "uid-2");
    assertThat(result.code()).isEqualTo(1);
    assertThat(file).exists();
    assertThat(result.err()).contains("not cut over");
  }

  @Test
  void noFileIsNothingToDo() {
    MainTest.Result result =
        MainTest.run("forget", "--metadata", dir.resolve("none").toString(), "--uid", "u");
    assertThat(result.code()).isZero();
    assertThat(result.out()).contains("nothing to remove");
  }

  @Test
  void otherFilesKeepTheDirectory() throws Exception {
    Path file = metadata("busy", "uid-3", true);
    Files.writeString(file.resolveSibling("notes"), "x");
    MainTest.Result result =
        MainTest.run("forget", "--metadata", file.toString(), "--uid", "uid-3");
    assertThat(result.code()).isZero();
    assertThat(file).doesNotExist();
    assertThat(file.getParent()).exists();
  }
}
