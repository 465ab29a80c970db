package dev.tableflip.spring.boot;

import java.time.Duration;

/** Told how long the old process took to drain after an upgrade (for metrics). */
@FunctionalInterface
public interface DrainObserver {

	void drained(Duration took);

}
