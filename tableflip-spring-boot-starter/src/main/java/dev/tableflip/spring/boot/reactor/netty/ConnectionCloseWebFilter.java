package dev.tableflip.spring.boot.reactor.netty;

import reactor.core.publisher.Mono;
import reactor.netty.Connection;

import org.springframework.http.HttpHeaders;
import org.springframework.http.server.reactive.AbstractServerHttpRequest;
import org.springframework.web.server.ServerWebExchange;
import org.springframework.web.server.WebFilter;
import org.springframework.web.server.WebFilterChain;

/**
 * Answers with {@code Connection: close} when tableflip says the connection should end: for
 * a growing share of responses during the overlap after an upgrade, for all of them while the
 * old process drains. Keep-alive clients then reconnect, to the new process, instead of
 * sending their next request on a connection that is about to close.
 */
public class ConnectionCloseWebFilter implements WebFilter {

	private final NettyListenerAdoption adoption;

	public ConnectionCloseWebFilter(NettyListenerAdoption adoption) {
		this.adoption = adoption;
	}

	@Override
	public Mono<Void> filter(ServerWebExchange exchange, WebFilterChain chain) {
		exchange.getResponse().beforeCommit(() -> {
			if (this.adoption.endsConnection(connection(exchange))) {
				exchange.getResponse().getHeaders().set(HttpHeaders.CONNECTION, "close");
			}
			return Mono.empty();
		});
		return chain.filter(exchange);
	}

	/** The Netty channel of the exchange, or the exchange itself if it has none. */
	private static Object connection(ServerWebExchange exchange) {
		if (exchange.getRequest() instanceof AbstractServerHttpRequest request
				&& request.getNativeRequest() instanceof Connection connection) {
			return connection.channel();
		}
		return exchange;
	}

}
