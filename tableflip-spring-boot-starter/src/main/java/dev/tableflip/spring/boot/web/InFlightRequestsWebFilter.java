package dev.tableflip.spring.boot.web;

import dev.tableflip.spring.boot.InFlightRequests;
import reactor.core.publisher.Mono;

import org.springframework.core.Ordered;
import org.springframework.http.server.reactive.ServerHttpRequest;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebFilter;
import org.springframework.web.server.WebFilterChain;

/**
 * Keeps {@link InFlightRequests} up to date on a reactive server, before every other filter: a
 * request runs until its response is written (a stream, until it ends) or it is cancelled.
 */
public class InFlightRequestsWebFilter implements WebFilter, Ordered {

	private final InFlightRequests requests;

	public InFlightRequestsWebFilter(InFlightRequests requests) {
		this.requests = requests;
	}

	@Override
	public Mono<Void> filter(ServerWebExchange exchange, WebFilterChain chain) {
		return Mono.defer(() -> {
			ServerHttpRequest request = exchange.getRequest();
			String query = request.getURI().getRawQuery();
			InFlightRequests.Request running = this.requests.begin(request.getMethod().name(),
					request.getPath().value() + ((query != null) ? "?" + query : ""));
			return chain.filter(exchange).doFinally((signal) -> running.end());
		});
	}

	@Override
	public int getOrder() {
		return Ordered.HIGHEST_PRECEDENCE;
	}

}
