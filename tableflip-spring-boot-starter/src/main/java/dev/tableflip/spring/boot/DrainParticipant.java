package dev.tableflip.spring.boot;

import java.util.List;

/**
 * A server that takes part in the old process's drain after an upgrade. From the drain's
 * start every response ends its connection ({@link TableflipUpgrader#keepAlive()}); the drain
 * then calls {@link #stopAccepting()} on every participant, closes the registry's copy of every
 * listener, closes the WebSocket sessions of every participant one after another
 * ({@link #openWebSockets()}), waits a grace period, closes the sessions opened meanwhile,
 * and only then closes the application context (Spring's graceful shutdown, which must still
 * see the server running).
 */
public interface DrainParticipant {

	/**
	 * Stops accepting, if closing the registry's copy of the listeners is not enough for this
	 * server. Connections then wait in the shared accept queue for the new process. The server
	 * must stay up: its graceful shutdown finishes the requests in flight.
	 */
	default void stopAccepting() {
	}

	/**
	 * The WebSocket sessions this server holds now that it did not list before, each as the
	 * action that closes it with a close frame, 1001 (going away). Asked after every server
	 * stopped accepting, and once more when the drain's grace period ends, for the sessions
	 * whose handshake was still under way at the first ask (no server closes those the same
	 * way when it stops). The drain runs the first ask's closes one after another over
	 * {@code tableflip.websocket-close-window}, so that the clients reconnect to the new process
	 * in a trickle, and the second's at once. A close must not block.
	 */
	default List<Runnable> openWebSockets() {
		return List.of();
	}

}
