package io.volumeclone.engine;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

class BufferPoolTest {

  @Test
  void handsOutDirectAlignedBuffersOfTheAskedLength() {
    BufferPool pool = new BufferPool("test", 32 << 20, 64 << 20);
    for (int length : new int[] {1, 512, 4096, 4097, 100_003, 1 << 20, 32 << 20}) {
      ByteBuffer b = pool.take(length);
      assertThat(b.isDirect()).as("length %d", length).isTrue();
      assertThat(b.alignmentOffset(0, BufferPool.ALIGNMENT)).as("length %d", length).isZero();
      assertThat(b.position()).isZero();
      assertThat(b.limit()).isEqualTo(length);
      assertThat(Integer.bitCount(b.capacity())).as("power-of-two class").isEqualTo(1);
      assertThat(b.capacity()).as("no alignment slack").isLessThan(2 * Math.max(length, 4096));
      pool.give(b);
    }
  }

  @Test
  void reusesAReturnedBufferOfTheSameClass() {
    BufferPool pool = new BufferPool("test", 32 << 20, 64 << 20);
    ByteBuffer first = pool.take(300_000);
    first.put(0, (byte) 7);
    pool.give(first);
    ByteBuffer second = pool.take(262_145);
    assertThat(second).isSameAs(first);
    assertThat(second.position()).isZero();
    assertThat(second.limit()).isEqualTo(262_145);
    assertThat(pool.take(300_000)).as("the pool was emptied by the take").isNotSameAs(first);
  }

  @Test
  void keepsNoMoreIdleBytesThanItsLimit() {
    BufferPool pool = new BufferPool("test", 32 << 20, 2 << 20);
    ByteBuffer a = pool.take(1 << 20);
    ByteBuffer b = pool.take(1 << 20);
    ByteBuffer c = pool.take(1 << 20);
    pool.give(a);
    pool.give(b);
    pool.give(c);
    assertThat(pool.pooledBytes()).isEqualTo(2 << 20);
  }

  @Test
  void requestsBeyondTheLargestClassAndHeapBuffersAreNotPooled() {
    BufferPool pool = new BufferPool("test", 1 << 20, 64 << 20);
    ByteBuffer big = pool.take((1 << 20) + 1);
    assertThat(big.limit()).isEqualTo((1 << 20) + 1);
    pool.give(big);
    pool.give(ByteBuffer.allocate(4096));
    assertThat(pool.pooledBytes()).isZero();
  }
}
