package dev.tableflip.sample;

import java.io.IOException;

import org.springframework.boot.autoconfigure.condition.ConditionalOnWebApplication;
import org.springframework.context.annotation.Configuration;
import org.springframework.web.socket.TextMessage;
import org.springframework.web.socket.WebSocketSession;
import org.springframework.web.socket.config.annotation.EnableWebSocket;
import org.springframework.web.socket.config.annotation.WebSocketConfigurer;
import org.springframework.web.socket.config.annotation.WebSocketHandlerRegistry;
import org.springframework.web.socket.handler.TextWebSocketHandler;

/**
 * A WebSocket echo on {@code /echo} (servlet mode): each text message comes back as
 * {@code "<pid>: <message>"}. It does nothing about upgrades: when this process drains, tableflip
 * closes every open session with 1001 (going away), one after another over
 * {@code tableflip.websocket-close-window} (2 s), and the clients reconnect to the new process.
 */
@Configuration(proxyBeanMethods = false)
@EnableWebSocket
@ConditionalOnWebApplication(type = ConditionalOnWebApplication.Type.SERVLET)
class EchoWebSocket extends TextWebSocketHandler implements WebSocketConfigurer {

	@Override
	public void registerWebSocketHandlers(WebSocketHandlerRegistry registry) {
		registry.addHandler(this, "/echo");
	}

	@Override
	protected void handleTextMessage(WebSocketSession session, TextMessage message) throws IOException {
		session.sendMessage(new TextMessage(ProcessHandle.current().pid() + ": " + message.getPayload()));
	}

}
