package io.volumeclone.engine;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** LinuxIo's start-up shortcuts: the jffi stub kept in the launcher's cache directory. */
class LinuxIoTest {

  @TempDir Path dir;

  @Test
  void theClassPathHoldsJffisStubUnderTheNameTheCacheUses() throws IOException {
    // A jffi upgrade that renames its stub would silently bring back the copy on every start.
    try (InputStream in =
        LinuxIo.class.getClassLoader().getResourceAsStream(LinuxIo.stubResource())) {
      assertThat(in).as(LinuxIo.stubResource()).isNotNull();
    }
  }

  @Test
  void theStubIsCopiedOnceAndKeptThereafter() throws IOException {
    Path cache = dir.resolve("jffi-1");
    Path stub = LinuxIo.cachedStub(cache);
    byte[] expected;
    try (InputStream in =
        LinuxIo.class.getClassLoader().getResourceAsStream(LinuxIo.stubResource())) {
      expected = in.readAllBytes();
    }
    assertThat(stub.getParent()).isEqualTo(cache);
    assertThat(stub.getFileName().toString()).isEqualTo("libjffi-1.2.so");
    assertThat(Files.readAllBytes(stub)).isEqualTo(expected);
    FileTime written = FileTime.fromMillis(1_000_000L);
    Files.setLastModifiedTime(stub, written);

    assertThat(LinuxIo.cachedStub(cache)).isEqualTo(stub);
    assertThat(Files.getLastModifiedTime(stub)).isEqualTo(written);
    try (var left = Files.list(cache)) {
      assertThat(left).containsExactly(stub);
    }
  }
}
