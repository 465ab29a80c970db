package dev.tableflip.spring.boot;

import java.time.Duration;
import java.time.Instant;

import dev.tableflip.UpgradeException;
import org.jspecify.annotations.Nullable;

/**
 * One upgrade attempt and how it ended.
 *
 * @param startedAt when it was triggered
 * @param trigger what triggered it ({@code signal}, {@code endpoint}, {@code api})
 * @param outcome how it ended
 * @param reason why it failed, {@code null} if it succeeded
 * @param message what happened, for people
 * @param childPid the new process's pid, {@code null} if none was started
 * @param exitCode the new process's exit code if it exited before it was ready
 * @param duration from the trigger to the outcome
 */
public record UpgradeRecord(Instant startedAt, String trigger, Outcome outcome,
		UpgradeException.@Nullable Reason reason, String message, @Nullable Long childPid, @Nullable Integer exitCode,
		Duration duration) {

	/** How an upgrade ended. */
	public enum Outcome {

		/** The new process is ready and serving; this one drains once the new one passed its probation. */
		SUCCEEDED,

		/**
		 * The new process of an upgrade that had succeeded died or gave up during its probation;
		 * this process took the service back. A second record, after the SUCCEEDED one.
		 */
		ROLLED_BACK,

		/** A new process was started but did not become ready. */
		FAILED,

		/** No new process was started (already upgrading, not ready...). */
		REFUSED

	}

}
