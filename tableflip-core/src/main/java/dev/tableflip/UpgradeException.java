package dev.tableflip;

import java.util.OptionalInt;
import java.util.OptionalLong;

/**
 * An upgrade that did not happen. The {@link #reason() reason} says why, so a caller can
 * switch on it; when a new process was started, its pid (and exit code, if it exited) come
 * with it. The running process is unaffected and keeps serving.
 */
public class UpgradeException extends Exception {

	private static final long serialVersionUID = 1L;

	/** Why an upgrade failed. */
	public enum Reason {

		/** {@link Upgrader#ready()} was not called yet in this process. */
		NOT_READY,

		/** This process was itself started by an upgrade, and its parent has not exited yet. */
		PARENT_NOT_EXITED,

		/** Another upgrade is running. */
		IN_PROGRESS,

		/** An upgrade already succeeded: this process is on its way out. */
		ALREADY_UPGRADED,

		/** The upgrader was stopped, before or during the upgrade. */
		STOPPED,

		/** The new process could not be started. */
		SPAWN_FAILED,

		/** The new process exited before it was ready. */
		CHILD_EXITED,

		/**
		 * The new process started but reported that it will not serve (for example, its warm-up
		 * or health check failed); the message carries the reason it gave.
		 */
		CHILD_FAILED,

		/** The new process did not become ready within the upgrade timeout and was killed. */
		TIMED_OUT,

		/** The new process broke the handoff protocol. */
		HANDSHAKE_FAILED,

		/**
		 * The new process became ready, then exited or reported that it will not serve during
		 * its probation ({@link UpgraderOptions#withProbation}): this process, which still held
		 * every listener, took the service back.
		 */
		PROBATION_FAILED,

		/**
		 * Checked before starting: the command that starts the new process cannot run (no such
		 * executable, or its {@code -jar} file is missing or unreadable).
		 */
		COMMAND_NOT_RUNNABLE,

		/**
		 * Checked before starting: a second JVM as large as this one would not fit under the
		 * cgroup's memory limit, or in the machine's available memory.
		 */
		NOT_ENOUGH_MEMORY,

		/** Checked before starting: this process is too close to its limit of open descriptors. */
		TOO_MANY_OPEN_FILES,

		/** This upgrader never upgrades: a {@linkplain Upgrader#stub() stub}. */
		UNSUPPORTED

	}

	private final Reason reason;

	private final long childPid;

	private final int exitCode;

	/**
	 * Creates an exception for an upgrade that failed before a new process existed.
	 * @param reason why the upgrade failed
	 * @param message what happened, for people
	 */
	public UpgradeException(Reason reason, String message) {
		this(reason, message, -1, Integer.MIN_VALUE, null);
	}

	/**
	 * Creates an exception for an upgrade that failed.
	 * @param reason why the upgrade failed
	 * @param message what happened, for people
	 * @param childPid the new process's pid, or -1 if none was started
	 * @param exitCode its exit code, or {@link Integer#MIN_VALUE} if it did not exit by itself
	 * @param cause the underlying failure, or {@code null}
	 */
	public UpgradeException(Reason reason, String message, long childPid, int exitCode, Throwable cause) {
		super(message, cause);
		this.reason = reason;
		this.childPid = childPid;
		this.exitCode = exitCode;
	}

	/** Why the upgrade failed. */
	public Reason reason() {
		return this.reason;
	}

	/** The pid of the new process, if one was started. */
	public OptionalLong childPid() {
		return (this.childPid > 0) ? OptionalLong.of(this.childPid) : OptionalLong.empty();
	}

	/**
	 * Whether the upgrade was refused rather than failed: refused before a new process was
	 * started (not ready, in progress, a pre-flight check...), so nothing was tried. A failed
	 * upgrade started, or tried to start, a new process. The one place that decides it, for
	 * the lineage, the log, the endpoint and the metrics alike.
	 */
	public boolean refused() {
		return switch (this.reason) {
			case NOT_READY, PARENT_NOT_EXITED, IN_PROGRESS, ALREADY_UPGRADED, UNSUPPORTED, COMMAND_NOT_RUNNABLE,
					NOT_ENOUGH_MEMORY, TOO_MANY_OPEN_FILES ->
				true;
			case STOPPED -> this.childPid <= 0;
			case SPAWN_FAILED, CHILD_EXITED, CHILD_FAILED, TIMED_OUT, HANDSHAKE_FAILED, PROBATION_FAILED -> false;
		};
	}

	/** The new process's exit code, if it exited by itself before it was ready. */
	public OptionalInt exitCode() {
		return (this.exitCode != Integer.MIN_VALUE) ? OptionalInt.of(this.exitCode) : OptionalInt.empty();
	}

}
