package dev.tableflip.spring.boot;

import java.time.Duration;

/**
 * Told how long the old process took to drain after an upgrade, just before it exits, after its
 * application context closed (a meter recorded then is never scraped: the new process records
 * the handover in {@code tableflip.handover.duration}). For a last log line or a push to an
 * external system.
 */
@FunctionalInterface
public interface DrainObserver {

	void drained(Duration took);

}
