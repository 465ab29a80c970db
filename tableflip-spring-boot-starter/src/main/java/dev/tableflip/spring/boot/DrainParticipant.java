package dev.tableflip.spring.boot;

/**
 * A server that takes part in the old process's drain after an upgrade. The drain calls
 * {@link #endKeepAlive()} on every participant, then {@link #closeListeners()}, waits a
 * grace period, and only then closes the application context (Spring's graceful shutdown).
 */
public interface DrainParticipant {

	/**
	 * Called first, while the server still accepts: from now on every response should end
	 * its connection, so keep-alive clients reconnect, to the new process.
	 */
	default void endKeepAlive() {
	}

	/**
	 * Stops accepting by closing this process's copy of the listeners the server owns, if
	 * closing the registry's channels is not enough for it. The new process keeps them open.
	 */
	default void closeListeners() {
	}

}
