package io.volumeclone.engine;

/** A copier's in-flight gauge that remembers the most regions it was told were in flight. */
final class TestingInFlightGauge implements Copier.InFlightGauge {

  private long most;

  @Override
  public synchronized void regionsInFlight(long regions) {
    most = Math.max(most, regions);
  }

  synchronized long mostRegionsInFlight() {
    return most;
  }
}
