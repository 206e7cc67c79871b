package io.volumeclone.cli;

import io.volumeclone.engine.BlockTarget;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * The export's view of a clone whose devices are still opening (issue 19, fast start): the export
 * listens, and a client connects and starts negotiating, while the source, destination and metadata
 * open. Whatever needs the clone itself (its size when the client asks for the export, every
 * request) waits for the open, and fails with the open's reason when it fails; only the name, which
 * the command line gives, is known at once.
 */
final class OpeningTarget implements BlockTarget {

  private final String name;
  private final CompletableFuture<BlockTarget> opened = new CompletableFuture<>();

  OpeningTarget(String name) {
    this.name = name;
  }

  /** The clone is open: everything waiting for it goes on. */
  void opened(BlockTarget target) {
    if (!target.name().equals(name)) {
      throw new IllegalArgumentException(
          "export '" + name + "' cannot serve clone '" + target.name() + "'");
    }
    opened.complete(target);
  }

  /** The clone could not be opened: everything waiting for it fails with {@code cause}. */
  void failed(Throwable cause) {
    opened.completeExceptionally(cause);
  }

  private BlockTarget target() throws IOException {
    try {
      return opened.get();
    } catch (ExecutionException e) {
      throw new IOException(
          "clone " + name + " could not be opened: " + e.getCause().getMessage(), e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted waiting for clone " + name + " to open");
    }
  }

  /**
   * For the calls that cannot throw an IOException: the export's negotiation refuses the client.
   */
  private BlockTarget targetOrFail() {
    try {
      return target();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public long size() {
    return targetOrFail().size();
  }

  @Override
  public int minimumBlockSize() {
    return targetOrFail().minimumBlockSize();
  }

  @Override
  public int preferredBlockSize() {
    return targetOrFail().preferredBlockSize();
  }

  @Override
  public boolean readOnly() {
    return targetOrFail().readOnly();
  }

  @Override
  public void read(long offset, ByteBuffer dst) throws IOException {
    target().read(offset, dst);
  }

  @Override
  public void write(long offset, ByteBuffer src, boolean fua) throws IOException {
    target().write(offset, src, fua);
  }

  @Override
  public void flush() throws IOException {
    target().flush();
  }

  @Override
  public void discard(long offset, long length, boolean fua) throws IOException {
    target().discard(offset, length, fua);
  }

  @Override
  public void writeZeroes(long offset, long length, boolean fua, boolean fastOnly)
      throws IOException {
    target().writeZeroes(offset, length, fua, fastOnly);
  }

  @Override
  public void writeZeroes(
      long offset, long length, boolean fua, boolean keepAllocated, boolean fastOnly)
      throws IOException {
    target().writeZeroes(offset, length, fua, keepAllocated, fastOnly);
  }

  @Override
  public void allocationExtents(long offset, long length, ExtentSink sink) throws IOException {
    target().allocationExtents(offset, length, sink);
  }

  @Override
  public void copiedExtents(long offset, long length, ExtentSink sink) throws IOException {
    target().copiedExtents(offset, length, sink);
  }
}
