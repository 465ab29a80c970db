package dev.tableflip.spring.boot.web;

import java.io.IOException;

import dev.tableflip.spring.boot.InFlightRequests;
import jakarta.servlet.AsyncEvent;
import jakarta.servlet.AsyncListener;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

import org.springframework.core.Ordered;
import org.springframework.web.filter.OncePerRequestFilter;

/**
 * Keeps {@link InFlightRequests} up to date on a servlet server, before every other filter; an
 * asynchronous request (a stream, a deferred result) runs until its async context completes.
 */
public class InFlightRequestsFilter extends OncePerRequestFilter implements Ordered {

	private final InFlightRequests requests;

	public InFlightRequestsFilter(InFlightRequests requests) {
		this.requests = requests;
	}

	@Override
	protected void doFilterInternal(HttpServletRequest request, HttpServletResponse response, FilterChain chain)
			throws ServletException, IOException {
		String query = request.getQueryString();
		InFlightRequests.Request running = this.requests.begin(request.getMethod(),
				request.getRequestURI() + ((query != null) ? "?" + query : ""));
		try {
			chain.doFilter(request, response);
		}
		finally {
			if (request.isAsyncStarted()) {
				request.getAsyncContext().addListener(new EndsWithAsync(running));
			}
			else {
				running.end();
			}
		}
	}

	@Override
	public int getOrder() {
		return Ordered.HIGHEST_PRECEDENCE;
	}

	/** Ends the request when its async context does. */
	private record EndsWithAsync(InFlightRequests.Request running) implements AsyncListener {

		@Override
		public void onComplete(AsyncEvent event) {
			this.running.end();
		}

		@Override
		public void onTimeout(AsyncEvent event) {
			this.running.end();
		}

		@Override
		public void onError(AsyncEvent event) {
			this.running.end();
		}

		@Override
		public void onStartAsync(AsyncEvent event) {
			event.getAsyncContext().addListener(this); // a new async cycle forgets its listeners
		}

	}

}
