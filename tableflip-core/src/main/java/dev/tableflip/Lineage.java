package dev.tableflip;

import java.lang.management.ManagementFactory;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

import dev.tableflip.UpgradeException.Reason;

/**
 * The story of a service across upgrades, as one of its processes knows it: its generation,
 * when and why it was started, when the first process of the line was started by hand, and
 * the upgrades of the whole line so far (this process's and its ancestors'). Each process
 * hands its lineage to the new one during the handoff. Immutable; {@link Upgrader#lineage()}
 * returns the current one.
 */
public final class Lineage {

	/** The cause of a process started by hand rather than by an upgrade. */
	public static final String STARTED_BY_HAND = "start";

	private final int generation;

	private final Instant started;

	private final String cause;

	private final Instant firstStarted;

	private final long succeeded;

	private final long failed;

	private final long refused;

	private final Failure lastFailure;

	Lineage(int generation, Instant started, String cause, Instant firstStarted, long succeeded, long failed,
			long refused, Failure lastFailure) {
		this.generation = generation;
		this.started = Objects.requireNonNull(started, "started");
		this.cause = Objects.requireNonNull(cause, "cause");
		this.firstStarted = Objects.requireNonNull(firstStarted, "firstStarted");
		this.succeeded = succeeded;
		this.failed = failed;
		this.refused = refused;
		this.lastFailure = lastFailure;
	}

	/** The lineage of a process started by hand: generation 1, no upgrades yet. */
	static Lineage first() {
		Instant started = thisProcessStarted();
		return new Lineage(1, started, STARTED_BY_HAND, started, 0, 0, 0, null);
	}

	/** 1 for a process started by hand, one more than its parent's for one started by an upgrade. */
	public int generation() {
		return this.generation;
	}

	/** When this process was started. */
	public Instant started() {
		return this.started;
	}

	/**
	 * Why this process was started: {@value #STARTED_BY_HAND} for one started by hand,
	 * otherwise what triggered the upgrade that started it ({@code signal}, {@code endpoint},
	 * {@code api}...).
	 */
	public String cause() {
		return this.cause;
	}

	/** When generation 1, the process started by hand, was started. */
	public Instant firstStarted() {
		return this.firstStarted;
	}

	/** Upgrades attempted by this process and its ancestors: succeeded, failed and refused. */
	public long attempted() {
		return this.succeeded + this.failed + this.refused;
	}

	/** Upgrades that started a process that became ready (one per generation after the first). */
	public long succeeded() {
		return this.succeeded;
	}

	/**
	 * Upgrades that started, or tried to start, a process that did not become ready or failed
	 * its probation.
	 */
	public long failed() {
		return this.failed;
	}

	/** Upgrades refused before any process was started (not ready, in progress, pre-flight...). */
	public long refused() {
		return this.refused;
	}

	/** The last upgrade of the line that failed, if any. */
	public Optional<Failure> lastFailure() {
		return Optional.ofNullable(this.lastFailure);
	}

	/** This lineage after one more upgrade outcome of this process. */
	Lineage after(UpgradeException failure, Instant at) {
		if (failure == null) {
			return new Lineage(this.generation, this.started, this.cause, this.firstStarted, this.succeeded + 1,
					this.failed, this.refused, this.lastFailure);
		}
		if (failure.refused()) {
			return new Lineage(this.generation, this.started, this.cause, this.firstStarted, this.succeeded,
					this.failed, this.refused + 1, this.lastFailure);
		}
		return new Lineage(this.generation, this.started, this.cause, this.firstStarted, this.succeeded,
				this.failed + 1, this.refused,
				new Failure(at, this.generation, failure.reason(), failure.getMessage()));
	}

	/** What the handoff carries to the new process that an upgrade for {@code cause} starts. */
	Map<String, String> notes(String cause) {
		Map<String, String> notes = new LinkedHashMap<>();
		notes.put("cause", cause);
		notes.put("first-started", Long.toString(this.firstStarted.toEpochMilli()));
		notes.put("succeeded", Long.toString(this.succeeded));
		notes.put("failed", Long.toString(this.failed));
		notes.put("refused", Long.toString(this.refused));
		if (this.lastFailure != null) {
			notes.put("last-failure.at", Long.toString(this.lastFailure.at().toEpochMilli()));
			notes.put("last-failure.generation", Integer.toString(this.lastFailure.generation()));
			notes.put("last-failure.reason", this.lastFailure.reason().name());
			notes.put("last-failure.message", this.lastFailure.message());
		}
		return notes;
	}

	/**
	 * The lineage of a new process of generation {@code generation}, from the notes its parent
	 * handed over. The upgrade that started it counts as succeeded: the process exists to tell
	 * only if it became ready. Notes that are missing or unreadable (a parent of another
	 * version) count as nothing rather than failing the handoff.
	 */
	static Lineage inherited(int generation, Map<String, String> notes) {
		Instant started = thisProcessStarted();
		Failure lastFailure = null;
		Reason reason = reason(notes.get("last-failure.reason"));
		long failedAt = number(notes.get("last-failure.at"), -1);
		if (reason != null && failedAt >= 0) {
			lastFailure = new Failure(Instant.ofEpochMilli(failedAt),
					(int) number(notes.get("last-failure.generation"), 0), reason,
					notes.getOrDefault("last-failure.message", ""));
		}
		long firstStarted = number(notes.get("first-started"), -1);
		return new Lineage(generation, started, notes.getOrDefault("cause", "upgrade"),
				(firstStarted >= 0) ? Instant.ofEpochMilli(firstStarted) : started,
				number(notes.get("succeeded"), 0) + 1, number(notes.get("failed"), 0),
				number(notes.get("refused"), 0), lastFailure);
	}

	private static long number(String value, long otherwise) {
		try {
			return (value != null) ? Math.max(0, Long.parseLong(value)) : otherwise;
		}
		catch (NumberFormatException ex) {
			return otherwise;
		}
	}

	private static Reason reason(String name) {
		try {
			return (name != null) ? Reason.valueOf(name) : null;
		}
		catch (IllegalArgumentException ex) {
			return null;
		}
	}

	private static Instant thisProcessStarted() {
		return Instant.ofEpochMilli(ManagementFactory.getRuntimeMXBean().getStartTime());
	}

	@Override
	public String toString() {
		return "generation " + this.generation + " (" + this.cause + ", " + this.started + "), upgrades since "
				+ this.firstStarted + ": " + this.succeeded + " succeeded, " + this.failed + " failed, "
				+ this.refused + " refused";
	}

	/**
	 * An upgrade that started a process that did not become ready.
	 *
	 * @param at when it failed
	 * @param generation the generation of the process that attempted it
	 * @param reason why
	 * @param message what happened, for people
	 */
	public record Failure(Instant at, int generation, Reason reason, String message) {
	}

}
