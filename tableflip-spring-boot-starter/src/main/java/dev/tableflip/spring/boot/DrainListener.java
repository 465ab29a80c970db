package dev.tableflip.spring.boot;

import java.time.Duration;

/**
 * Long-lived work of the application that must end when this process drains after an
 * upgrade: server-sent event streams, long polls, streamed downloads. The servers' graceful
 * shutdown waits for every request in flight, and a stream that never ends would hold the old
 * process until {@code tableflip.exit-timeout} cuts it. A bean of this type is told when the
 * drain starts, after this process stopped accepting (a client that reconnects then reaches
 * the new process), so that it can end its streams cleanly: complete an event stream (an
 * {@code EventSource} reconnects, with {@code Last-Event-ID}). WebSocket sessions need no
 * listener: the drain closes them with 1001 (going away) just before it tells the listeners
 * ({@link DrainParticipant#openWebSockets()}).
 *
 * <p>Called once, on the drain's thread, in {@link org.springframework.core.annotation.Order
 * order}. The drain waits for each listener to return before its grace period and the
 * graceful shutdown, so a listener may take its time, for example to spread the closes of many
 * sessions over a window rather than send every client back at once; it must return well
 * within {@code timeLeft}, after which the process halts whatever runs. An exception is logged
 * and the drain goes on. Not called on a plain stop.
 */
@FunctionalInterface
public interface DrainListener {

	/**
	 * This process drains: end long-lived work.
	 * @param timeLeft how long until this process exits whatever still runs
	 * ({@code tableflip.exit-timeout} from the drain's start)
	 */
	void draining(Duration timeLeft);

}
