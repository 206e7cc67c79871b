package io.volumeclone.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.volumeclone.engine.TestingFaultyBlockDevice.Op;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** The fault injector other tests rely on does what its rules say, and nothing else. */
class TestingFaultyBlockDeviceTest {

  private static byte[] filled(int size, int value) {
    byte[] data = new byte[size];
    Arrays.fill(data, (byte) value);
    return data;
  }

  @Test
  void rulesMatchByOperationRangeAndCallCount() throws IOException {
    TestingMemoryBlockDevice memory = new TestingMemoryBlockDevice("/dev/mem", 1 << 16);
    TestingFaultyBlockDevice dev = new TestingFaultyBlockDevice(memory);
    TestingFaultyBlockDevice.Fault reads =
        dev.fail(Op.READ).range(8192, 4096).afterCalls(1).times(2);

    dev.read(8192, ByteBuffer.allocate(512)); // first matching call passes
    dev.read(0, ByteBuffer.allocate(512)); // outside the range: never matches
    assertThatThrownBy(() -> dev.read(12_000, ByteBuffer.allocate(512)))
        .isInstanceOfSatisfying(
            BlockIoException.class,
            e -> {
              assertThat(e.kind()).isEqualTo(BlockIoException.Kind.IO);
              assertThat(e.device()).isEqualTo("/dev/mem");
              assertThat(e.offset()).isEqualTo(12_000);
              assertThat(e.operation()).isEqualTo("read");
            });
    // Overlapping the range from below matches too.
    assertThatThrownBy(() -> dev.read(8000, ByteBuffer.allocate(512)))
        .isInstanceOf(BlockIoException.class);
    dev.read(8192, ByteBuffer.allocate(512)); // two failures used up
    assertThat(reads.triggered()).isEqualTo(2);
    dev.write(8192, ByteBuffer.allocate(512)); // writes were never part of the rule

    assertThat(dev.log())
        .extracting(TestingFaultyBlockDevice.Call::failed)
        .containsExactly(false, false, true, true, false, false);
  }

  @Test
  void kindsFlushesHealingAndTornWrites() throws IOException {
    TestingMemoryBlockDevice memory = new TestingMemoryBlockDevice("/dev/mem", 8192);
    TestingFaultyBlockDevice dev = new TestingFaultyBlockDevice(memory);
    dev.fail(Op.FLUSH).kind(BlockIoException.Kind.NO_SPACE);
    assertThatThrownBy(dev::flush)
        .isInstanceOfSatisfying(
            BlockIoException.class,
            e -> assertThat(e.kind()).isEqualTo(BlockIoException.Kind.NO_SPACE));
    assertThat(memory.flushes.get()).isZero();
    dev.heal();
    dev.flush();
    assertThat(memory.flushes.get()).isEqualTo(1);

    dev.fail(Op.WRITE).torn(1000).times(1);
    assertThatThrownBy(() -> dev.write(0, ByteBuffer.wrap(filled(4096, 7))))
        .isInstanceOf(BlockIoException.class);
    byte[] contents = memory.contents();
    assertThat(Arrays.copyOfRange(contents, 0, 1000)).containsOnly(7);
    assertThat(Arrays.copyOfRange(contents, 1000, 4096)).containsOnly(0);

    dev.fail(Op.DISCARD, Op.WRITE_ZEROES);
    assertThatThrownBy(() -> dev.discard(0, 4096)).hasMessageContaining("discard");
    assertThatThrownBy(() -> dev.writeZeroes(0, 4096)).hasMessageContaining("write-zeroes");
    assertThat(Arrays.copyOfRange(memory.contents(), 0, 1000)).containsOnly(7);
  }
}
