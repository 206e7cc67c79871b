package io.volumeclone.engine;

/**
 * The test wrappers' base: a {@link ForwardingBlockDevice}; they override only the calls they
 * record, hold or fail.
 */
public abstract class TestingForwardingBlockDevice extends ForwardingBlockDevice {

  protected TestingForwardingBlockDevice(BlockDevice inner) {
    super(inner);
  }
}
