package dev.tableflip.spring.boot.it;

import java.time.Duration;
import java.util.Map;

import reactor.core.publisher.Mono;

import org.springframework.boot.autoconfigure.condition.ConditionalOnWebApplication;
import org.springframework.boot.autoconfigure.condition.ConditionalOnWebApplication.Type;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.web.reactive.HandlerMapping;
import org.springframework.web.reactive.handler.SimpleUrlHandlerMapping;
import org.springframework.web.reactive.socket.WebSocketHandler;
import org.springframework.web.reactive.socket.WebSocketMessage;
import org.springframework.web.socket.TextMessage;
import org.springframework.web.socket.WebSocketSession;
import org.springframework.web.socket.config.annotation.EnableWebSocket;
import org.springframework.web.socket.config.annotation.WebSocketConfigurer;
import org.springframework.web.socket.config.annotation.WebSocketHandlerRegistry;
import org.springframework.web.socket.handler.TextWebSocketHandler;

/**
 * A WebSocket echo on {@code /echo} that answers each text with {@code "<pid>: <text>"}: Spring
 * WebSocket in a servlet application (Tomcat, Jetty), WebFlux's in a reactive one (Reactor
 * Netty). It closes nothing itself: tableflip closes its sessions when the process drains.
 * A text {@code "work <ms>"} is answered after the handler worked that long: on the server's
 * thread in a servlet application (the connection is busy, as under a slow handler), after a
 * delay in a reactive one (whose handlers must not block).
 */
final class EchoWebSockets {

	private static final long PID = ProcessHandle.current().pid();

	private EchoWebSockets() {
	}

	/** How long a text asks the handler to work before it answers: none, unless it is {@code "work <ms>"}. */
	static Duration work(String text) {
		return text.startsWith("work ") ? Duration.ofMillis(Long.parseLong(text.substring(5))) : Duration.ZERO;
	}

	@Configuration(proxyBeanMethods = false)
	@EnableWebSocket
	@ConditionalOnWebApplication(type = Type.SERVLET)
	static class Servlet implements WebSocketConfigurer {

		@Override
		public void registerWebSocketHandlers(WebSocketHandlerRegistry registry) {
			registry.addHandler(new TextWebSocketHandler() {

				@Override
				protected void handleTextMessage(WebSocketSession session, TextMessage message) throws Exception {
					Thread.sleep(work(message.getPayload()).toMillis());
					session.sendMessage(new TextMessage(PID + ": " + message.getPayload()));
				}

			}, "/echo");
		}

	}

	@Configuration(proxyBeanMethods = false)
	@ConditionalOnWebApplication(type = Type.REACTIVE)
	static class Reactive {

		@Bean
		HandlerMapping echoWebSocketMapping() {
			WebSocketHandler echo = (session) -> session.send(session.receive()
				.map(WebSocketMessage::getPayloadAsText)
				.concatMap((text) -> answer(session.textMessage(PID + ": " + text), work(text))));
			return new SimpleUrlHandlerMapping(Map.of("/echo", echo), -1);
		}

		private static Mono<WebSocketMessage> answer(WebSocketMessage message, Duration work) {
			return work.isZero() ? Mono.just(message) : Mono.just(message).delayElement(work);
		}

	}

}
