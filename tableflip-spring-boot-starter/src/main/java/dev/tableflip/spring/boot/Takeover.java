package dev.tableflip.spring.boot;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

import dev.tableflip.Upgrader;
import dev.tableflip.spring.boot.TakeoverStep.Phase;
import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;
import org.jspecify.annotations.Nullable;

import org.springframework.core.annotation.AnnotationAwareOrderComparator;

/**
 * Runs the {@link TakeoverStep steps} of a takeover around the moment the new process is
 * ready: the {@link Phase#BEFORE_READY} ones in each process before it tells tableflip it is
 * ready, the {@link Phase#AFTER_READY} ones in the old process before it drains.
 */
public final class Takeover {

	private static final Log logger = LogFactory.getLog(Takeover.class);

	private final Upgrader upgrader;

	private final List<TakeoverStep> steps;

	/**
	 * @param upgrader the core upgrader, told when a before-ready step fails
	 * @param steps the steps, in any order: they are sorted by {@code @Order}
	 */
	public Takeover(Upgrader upgrader, List<TakeoverStep> steps) {
		this.upgrader = upgrader;
		List<TakeoverStep> sorted = new ArrayList<>(steps);
		AnnotationAwareOrderComparator.sort(sorted);
		this.steps = List.copyOf(sorted);
	}

	/** The steps, in the order they run within their phase. */
	public List<TakeoverStep> steps() {
		return this.steps;
	}

	/**
	 * Runs the before-ready steps; the caller then tells tableflip this process is ready. If a
	 * step fails, the old process (if any) is told why and its upgrade fails; this process
	 * should then exit.
	 * @param running told the name of each step as it starts, and {@code null} when it ends
	 * @throws TakeoverFailedException if a step failed
	 * @throws IOException if the old process could not be told
	 */
	public void runBeforeReady(Consumer<@Nullable String> running) throws TakeoverFailedException, IOException {
		for (TakeoverStep step : this.steps) {
			if (step.phase() == Phase.BEFORE_READY) {
				run(step, running);
			}
		}
	}

	private void run(TakeoverStep step, Consumer<@Nullable String> running) throws TakeoverFailedException, IOException {
		long started = System.nanoTime();
		running.accept(step.name());
		logger.info("Takeover step '" + step.name() + "' started");
		try {
			step.run();
			logger.info("Takeover step '" + step.name() + "' done in " + (System.nanoTime() - started) / 1_000_000
					+ " ms");
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
			throw fail(step, "interrupted", ex);
		}
		catch (Exception ex) {
			throw fail(step, String.valueOf(ex.getMessage()), ex);
		}
		finally {
			running.accept(null);
		}
	}

	private TakeoverFailedException fail(TakeoverStep step, String message, Exception cause) throws IOException {
		TakeoverFailedException failure = new TakeoverFailedException(step.name() + " failed: " + message, cause);
		this.upgrader.fail(failure.getMessage());
		return failure;
	}

	/**
	 * Runs the after-ready steps in the old process, once the new one is ready. A failing
	 * step is logged and skipped: the new process serves already. An interrupt (a rollback)
	 * ends them.
	 * @param running told the name of each step as it starts, and {@code null} when it ends
	 */
	public void runAfterReady(Consumer<@Nullable String> running) {
		for (TakeoverStep step : this.steps) {
			if (step.phase() != Phase.AFTER_READY) {
				continue;
			}
			running.accept(step.name());
			try {
				step.run();
			}
			catch (InterruptedException ex) {
				Thread.currentThread().interrupt();
				return;
			}
			catch (Exception ex) {
				logger.warn("Takeover step '" + step.name() + "' failed; going on with the next one", ex);
			}
			finally {
				running.accept(null);
			}
		}
	}

	/** A before-ready step failed: the process will not serve. */
	public static final class TakeoverFailedException extends Exception {

		private static final long serialVersionUID = 1L;

		TakeoverFailedException(String message, Throwable cause) {
			super(message, cause);
		}

	}

}
