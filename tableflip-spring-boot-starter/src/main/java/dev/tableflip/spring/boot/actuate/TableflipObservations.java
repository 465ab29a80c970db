package dev.tableflip.spring.boot.actuate;

import java.util.concurrent.atomic.AtomicReference;

import dev.tableflip.spring.boot.TableflipUpgrader;
import dev.tableflip.spring.boot.UpgradeRecord;
import dev.tableflip.spring.boot.UpgradeRecord.Outcome;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationRegistry;
import org.jspecify.annotations.Nullable;

/**
 * Each upgrade this process starts, as a Micrometer {@link Observation} named
 * {@code tableflip.upgrade}: from its trigger to its outcome in this process (the new process
 * ready, the upgrade failed or refused), with the low-cardinality keys {@code trigger},
 * {@code outcome} and {@code reason}, and the new process's pid as a high-cardinality key. A
 * failure is the observation's error. A rollback during the probation is an observation of its
 * own, with outcome {@code rolled_back}.
 *
 * <p>The phases around it are observations named {@code tableflip.step}, with the
 * low-cardinality key {@code step}: in a new process, the takeover's steps before it is ready
 * ({@code warm-up}, {@code health gate}); in the old process, those after the new one is ready
 * ({@code overlap}) and its {@code drain}, from its end of accepting to Spring's graceful
 * shutdown. With Spring Boot's observation support, tracing sees each as a span, and the meter
 * handler records {@code tableflip.upgrade} and {@code tableflip.step} timers.
 */
public class TableflipObservations {

	private static final String NAME = "tableflip.upgrade";

	private static final String STEP = "tableflip.step";

	private final ObservationRegistry registry;

	/** The upgrade under way: there is at most one at a time. */
	private final AtomicReference<Observation> current = new AtomicReference<>();

	/** The step under way in this process: steps run one after another. */
	private final AtomicReference<Observation> step = new AtomicReference<>();

	public TableflipObservations(TableflipUpgrader upgrader, ObservationRegistry registry) {
		this.registry = registry;
		upgrader.onUpgradeStarted(this::started);
		upgrader.onUpgrade(this::ended);
		upgrader.onStep(this::step);
	}

	private void step(@Nullable String name) {
		Observation next = (name != null) ? Observation.createNotStarted(STEP, this.registry)
			.contextualName("tableflip " + name)
			.lowCardinalityKeyValue("step", name)
			.start() : null;
		Observation previous = this.step.getAndSet(next);
		if (previous != null) {
			previous.stop();
		}
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
