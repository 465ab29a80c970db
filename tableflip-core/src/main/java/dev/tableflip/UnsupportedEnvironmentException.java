package dev.tableflip;

/**
 * This JVM cannot hand its sockets to a new process as it runs, and the operator can change
 * that: it is not on Linux, the JDK's socket channels are not opened to tableflip (the
 * {@code --add-opens} option), the native POSIX bindings did not load, or the JDK lacks the
 * internals tableflip was built for. Thrown by {@link Upgrader#create}, before anything is
 * bound; the message says what is wrong and what to do, and {@link #problem()} and
 * {@link #action()} say it apart, for tools that show them apart (Spring Boot's failure
 * analysis).
 */
public final class UnsupportedEnvironmentException extends IllegalStateException {

	private final String problem;

	private final String action;

	public UnsupportedEnvironmentException(String problem, String action, Throwable cause) {
		super(problem + ". " + action, cause);
		this.problem = problem;
		this.action = action;
	}

	public UnsupportedEnvironmentException(String problem, String action) {
		super(problem + ". " + action);
		this.problem = problem;
		this.action = action;
	}

	/** What is wrong, in one sentence. */
	public String problem() {
		return this.problem;
	}

	/** What to do about it. */
	public String action() {
		return this.action;
	}

}
