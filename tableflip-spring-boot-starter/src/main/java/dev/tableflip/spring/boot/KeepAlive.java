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
 * is sent a {@code GOAWAY} instead, by each server's own means. A {@link #rehearsal} ends the
 * connections of a warm-up's private listener the same way, all the time, and answers half of
 * the responses as a process that keeps its connections would.
 */
public final class KeepAlive {

	/** When each connection seen during the overlap ends, by the server's connection object. */
	private final Map<Object, Long> deadlines = Collections.synchronizedMap(new WeakHashMap<>());

	private volatile long rampEnd = Long.MIN_VALUE;

	/** For a rehearsal: how long after its first response each connection ends at the latest; else 0. */
	private final long lifetime;

	/** Whether connections end: during the overlap's ramp, the drain, or a rehearsal. */
	private volatile boolean ending;

	/** Who answers for a response: this keep-alive; for a rehearsal, this one or one that keeps, at random. */
	private final KeepAlive[] answering;

	/** A keep-alive that keeps every connection alive until the overlap or the drain. */
	public KeepAlive() {
		this(0);
	}

	private KeepAlive(long lifetime) {
		this.lifetime = lifetime;
		this.ending = lifetime > 0;
		this.answering = (lifetime > 0) ? new KeepAlive[] { this, new KeepAlive() } : new KeepAlive[] { this };
	}

	/**
	 * A keep-alive for a warm-up's private listener: each connection ends at a random moment
	 * within {@code lifetime} of its first responses, as connections end during an overlap, and
	 * half of the responses, at random, are answered as by a process that keeps its connections
	 * (so a connection ends at the first of those others after its moment). So a warm-up runs
	 * the code an overlap will, and the code that serves before it, and the JIT compiles both
	 * with it: measured, an old process whose JIT had never seen a connection end this way
	 * recompiled the request path (Tomcat's included) the moment its overlap began, and a new
	 * process whose rehearsal ended every connection threw its compiled {@code endsConnection}
	 * away at its first real request ({@code -Xlog:deoptimization}, JDK 25).
	 */
	public static KeepAlive rehearsal(Duration lifetime) {
		return new KeepAlive(Math.max(1, lifetime.toNanos()));
	}

	/**
	 * Whether the response about to be written on {@code connection} should say
	 * {@code Connection: close}.
	 * @param connection what identifies the connection to the server (its socket wrapper or
	 * channel), held weakly
	 */
	public boolean endsConnection(Object connection) {
		// An index, not a branch: which of the two answers must not be a branch the JIT could find never taken.
		return this.answering[ThreadLocalRandom.current().nextInt() & (this.answering.length - 1)].answers(connection);
	}

	private boolean answers(Object connection) {
		if (!this.ending) {
			return false;
		}
		long now = System.nanoTime();
		// One path for the overlap, the drain and the rehearsal, no branch on which: a branch the JIT
		// has never seen taken costs a recompile of the server's request path when it is.
		long end = Math.max(this.rampEnd, now + this.lifetime);
		long deadline = this.deadlines.computeIfAbsent(connection,
				(key) -> now + (long) (ThreadLocalRandom.current().nextDouble() * Math.max(0, end - now)));
		// a moment given under an earlier ramp (a race with rampDown or end) never outlasts this one's end
		return now >= Math.min(deadline, end);
	}

	/** From now on, connections end one after another, all of them within {@code over}. */
	void rampDown(Duration over) {
		this.rampEnd = System.nanoTime() + over.toNanos();
		this.deadlines.clear();
		this.ending = true;
	}

	/** From now on connections are kept alive again: a rollback undoes the overlap's ramp. */
	void keep() {
		this.ending = false;
		this.deadlines.clear();
	}

	/** From now on, every response ends its connection: a ramp that is over. */
	void end() {
		this.rampEnd = System.nanoTime();
		this.deadlines.clear();
		this.ending = true;
	}

}
