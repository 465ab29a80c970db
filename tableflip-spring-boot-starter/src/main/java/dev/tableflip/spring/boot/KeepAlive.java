package dev.tableflip.spring.boot;

import java.time.Duration;
import java.util.Collections;
import java.util.Map;
import java.util.WeakHashMap;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Whether a response should end its connection, asked by the servers for every response. In
 * the old process, during the overlap, each connection is given a moment, spread evenly over
 * what is left of the overlap, after which its next response ends it; so the keep-alive
 * clients move over to the new process a few at a time instead of all at once, whatever their
 * request rate. While the process drains, every response ends its connection. An HTTP/1.x
 * connection ends with a response that says {@code Connection: close}; an HTTP/2 connection
 * is sent a {@code GOAWAY} instead, by each server's own means.
 */
public final class KeepAlive {

	/** When each connection seen during the overlap ends, by the server's connection object. */
	private final Map<Object, Long> deadlines = Collections.synchronizedMap(new WeakHashMap<>());

	private volatile long rampEnd;

	private volatile boolean ramping;

	private volatile boolean ending;

	/**
	 * Whether the response about to be written on {@code connection} should say
	 * {@code Connection: close}.
	 * @param connection what identifies the connection to the server (its socket wrapper or
	 * channel), held weakly
	 */
	public boolean endsConnection(Object connection) {
		if (this.ending) {
			return true;
		}
		if (!this.ramping) {
			return false;
		}
		long now = System.nanoTime();
		long end = this.rampEnd;
		long deadline = this.deadlines.computeIfAbsent(connection,
				(key) -> now + (long) (ThreadLocalRandom.current().nextDouble() * Math.max(0, end - now)));
		return now >= deadline;
	}

	/** Whether connections are ending: during the overlap's ramp or the drain. */
	public boolean handingOver() {
		return this.ramping || this.ending;
	}

	/** From now on, connections end one after another, all of them within {@code over}. */
	void rampDown(Duration over) {
		this.deadlines.clear();
		this.rampEnd = System.nanoTime() + over.toNanos();
		this.ramping = true;
	}

	/** From now on connections are kept alive again: a rollback undoes the overlap's ramp. */
	void keep() {
		this.ramping = false;
		this.deadlines.clear();
	}

	/** From now on, every response ends its connection. */
	void end() {
		this.ending = true;
		this.deadlines.clear();
	}

}
