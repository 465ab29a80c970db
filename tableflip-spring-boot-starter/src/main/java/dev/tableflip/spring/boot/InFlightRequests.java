package dev.tableflip.spring.boot;

import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;

/**
 * The requests this process's web server is running now, with what they asked for and since
 * when, so that a request that is still running when the server stops or the process halts is
 * reported by name instead of cut in silence. Filled by a filter in front of every request
 * (servlet or WebFlux).
 */
public final class InFlightRequests {

	/** How many requests a report names; the rest are counted. */
	private static final int NAMED = 20;

	private final Set<Request> running = ConcurrentHashMap.newKeySet();

	/** A request begins: {@code method} and {@code target} (path and query). End it with {@link Request#end()}. */
	public Request begin(String method, String target) {
		Request request = new Request(method, target, System.nanoTime());
		this.running.add(request);
		return request;
	}

	/** How many requests run now. */
	public int count() {
		return this.running.size();
	}

	/**
	 * The running requests, oldest first, as {@code "GET /slow?ms=30000 (for 9.1 s)"}, at most
	 * twenty of them and how many more.
	 */
	public String describe() {
		long now = System.nanoTime();
		List<Request> oldestFirst = this.running.stream().sorted(Comparator.comparingLong(Request::started)).toList();
		String named = oldestFirst.stream()
			.limit(NAMED)
			.map((request) -> request.method + " " + request.target + " (for "
					+ String.format("%.1f s", Duration.ofNanos(now - request.started).toMillis() / 1000.0) + ")")
			.collect(Collectors.joining(", "));
		return (oldestFirst.size() > NAMED) ? named + " and " + (oldestFirst.size() - NAMED) + " more" : named;
	}

	/** One running request; identity is what tells two equal requests apart. */
	public final class Request {

		private final String method;

		private final String target;

		private final long started;

		private Request(String method, String target, long started) {
			this.method = method;
			this.target = target;
			this.started = started;
		}

		long started() {
			return this.started;
		}

		/** The request is answered, or given up: it runs no more. Idempotent. */
		public void end() {
			InFlightRequests.this.running.remove(this);
		}

	}

}
