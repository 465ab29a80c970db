package dev.tableflip.spring.boot;

/**
 * A server that takes part in the old process's drain after an upgrade. From the drain's
 * start every response ends its connection ({@link TableflipUpgrader#keepAlive()}); the drain
 * then calls {@link #stopAccepting()} on every participant, closes the registry's copy of every
 * listener, waits a grace period, and only then closes the application context (Spring's
 * graceful shutdown, which must still see the server running).
 */
public interface DrainParticipant {

	/**
	 * Stops accepting, if closing the registry's copy of the listeners is not enough for this
	 * server. Connections then wait in the shared accept queue for the new process. The server
	 * must stay up: its graceful shutdown finishes the requests in flight.
	 */
	default void stopAccepting() {
	}

}
