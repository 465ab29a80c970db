package dev.tableflip.spring.boot.actuate;

import java.util.concurrent.atomic.AtomicReference;

import dev.tableflip.spring.boot.TableflipUpgrader;
import dev.tableflip.spring.boot.UpgradeRecord;
import dev.tableflip.spring.boot.UpgradeRecord.Outcome;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationRegistry;

/**
 * Each upgrade this process starts, as a Micrometer {@link Observation} named
 * {@code tableflip.upgrade}: from its trigger to its outcome in this process (the new process
 * ready, the upgrade failed or refused), with the low-cardinality keys {@code trigger},
 * {@code outcome} and {@code reason}, and the new process's pid as a high-cardinality key. A
 * failure is the observation's error. A rollback during the probation is an observation of its
 * own, with outcome {@code rolled_back}. With Spring Boot's observation support, tracing sees
 * each upgrade as a span, and the meter handler records a {@code tableflip.upgrade} timer.
 */
public class TableflipObservations {

	private static final String NAME = "tableflip.upgrade";

	private final ObservationRegistry registry;

	/** The upgrade under way: there is at most one at a time. */
	private final AtomicReference<Observation> current = new AtomicReference<>();

	public TableflipObservations(TableflipUpgrader upgrader, ObservationRegistry registry) {
		this.registry = registry;
		upgrader.onUpgradeStarted(this::started);
		upgrader.onUpgrade(this::ended);
	}

	private void started(String trigger) {
		this.current.set(observation(trigger).start());
	}

	private void ended(UpgradeRecord record) {
		Observation observation = (record.outcome() != Outcome.ROLLED_BACK) ? this.current.getAndSet(null) : null;
		if (observation == null) { // refused before it started, or a rollback
			observation = observation(record.trigger()).start();
		}
		observation.lowCardinalityKeyValue("outcome", record.outcome().name().toLowerCase())
			.lowCardinalityKeyValue("reason", (record.reason() != null) ? record.reason().name().toLowerCase() : "none");
		if (record.childPid() != null) {
			observation.highCardinalityKeyValue("child.pid", Long.toString(record.childPid()));
		}
		if (record.outcome() == Outcome.FAILED || record.outcome() == Outcome.ROLLED_BACK) {
			observation.error(new UpgradeFailed(record.message()));
		}
		observation.stop();
	}

	private Observation observation(String trigger) {
		return Observation.createNotStarted(NAME, this.registry)
			.contextualName("tableflip upgrade")
			.lowCardinalityKeyValue("trigger", trigger);
	}

	/** What an observation of a failed upgrade reports as its error: the record's message. */
	static final class UpgradeFailed extends RuntimeException {

		UpgradeFailed(String message) {
			super(message, null, false, false);
		}

	}

}
