package dev.tableflip.spring.boot.it;

import java.util.Map;

import org.springframework.boot.autoconfigure.condition.ConditionalOnWebApplication;
import org.springframework.boot.autoconfigure.condition.ConditionalOnWebApplication.Type;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.web.reactive.HandlerMapping;
import org.springframework.web.reactive.handler.SimpleUrlHandlerMapping;
import org.springframework.web.reactive.socket.WebSocketHandler;
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
 */
final class EchoWebSockets {

	private static final long PID = ProcessHandle.current().pid();

	private EchoWebSockets() {
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
			WebSocketHandler echo = (session) -> session
				.send(session.receive().map((message) -> session.textMessage(PID + ": " + message.getPayloadAsText())));
			return new SimpleUrlHandlerMapping(Map.of("/echo", echo), -1);
		}

	}

}
