package dev.tableflip.spring.boot;

/**
 * One step of a takeover, the sequence that leads from "the new process's application has
 * started" to "the old process drains". Steps run one after another, in {@code @Order}, in
 * one of two phases. Warm-up and the overlap are built in; a bean of this type adds a step.
 *
 * <pre>
 * new process: application started -> BEFORE_READY steps -> ready (tells the old process)
 * old process:                                   new process ready -> AFTER_READY steps -> drain
 * </pre>
 */
public interface TakeoverStep {

	/** Where in the takeover a step runs. */
	enum Phase {

		/**
		 * In every process, after its application started and before it tells tableflip it is
		 * ready (and, after an upgrade, before it accepts from the inherited listeners). A step
		 * that throws fails the upgrade with its message; the old process keeps serving.
		 */
		BEFORE_READY,

		/**
		 * In the old process, after the new one is ready and before this one stops accepting:
		 * both processes accept from the same listeners meanwhile.
		 */
		AFTER_READY

	}

	/** The phase this step runs in. */
	Phase phase();

	/** What the step does, in a word or two, for the log and the status ("warm-up", "overlap"). */
	String name();

	/**
	 * Runs the step to its end.
	 * @throws Exception if it failed: its message says why, and becomes the upgrade's reason
	 */
	void run() throws Exception;

}
