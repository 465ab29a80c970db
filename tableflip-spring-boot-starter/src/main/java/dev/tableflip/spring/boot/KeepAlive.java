package dev.tableflip.spring.boot;

import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Whether a response should end its connection, asked by the servers for every response. In
 * the old process, during the overlap, more and more responses do (from none at its start to
 * all at its end), so keep-alive clients move over to the new process little by little instead
 * of all at once; while it drains, every response does.
 */
public final class KeepAlive {

	private volatile long rampStart;

	private volatile long rampNanos;

	private volatile boolean ending;

	/** Whether the response about to be written should say {@code Connection: close}. */
	public boolean endsConnection() {
		if (this.ending) {
			return true;
		}
		long nanos = this.rampNanos;
		if (nanos == 0) {
			return false;
		}
		double share = (double) (System.nanoTime() - this.rampStart) / nanos;
		return ThreadLocalRandom.current().nextDouble() < share;
	}

	/** From now on, a growing share of responses ends its connection: all of them after {@code over}. */
	void rampDown(Duration over) {
		this.rampStart = System.nanoTime();
		this.rampNanos = Math.max(1, over.toNanos());
	}

	/** From now on, every response ends its connection. */
	void end() {
		this.ending = true;
	}

}
