package dev.tableflip.sample;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import dev.tableflip.spring.boot.DrainListener;
import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;

import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.autoconfigure.condition.ConditionalOnWebApplication;
import org.springframework.context.annotation.Configuration;
import org.springframework.web.socket.CloseStatus;
import org.springframework.web.socket.TextMessage;
import org.springframework.web.socket.WebSocketSession;
import org.springframework.web.socket.config.annotation.EnableWebSocket;
import org.springframework.web.socket.config.annotation.WebSocketConfigurer;
import org.springframework.web.socket.config.annotation.WebSocketHandlerRegistry;
import org.springframework.web.socket.handler.TextWebSocketHandler;

/**
 * A WebSocket echo on {@code /echo} (servlet mode): each text message comes back as
 * {@code "<pid>: <message>"}. When this process drains after an upgrade, every open session is
 * closed with 1001 (going away), the closes spread over {@code sample.websocket.close-window}
 * (default 2 s, never more than a quarter of the time left), so that clients reconnect to the
 * new process in a trickle rather than all at once.
 */
@Configuration(proxyBeanMethods = false)
@EnableWebSocket
@ConditionalOnWebApplication(type = ConditionalOnWebApplication.Type.SERVLET)
class EchoWebSocket extends TextWebSocketHandler implements WebSocketConfigurer, DrainListener {

	private static final Log logger = LogFactory.getLog(EchoWebSocket.class);

	private final Set<WebSocketSession> sessions = ConcurrentHashMap.newKeySet();

	private final Duration closeWindow;

	EchoWebSocket(@Value("${sample.websocket.close-window:2s}") Duration closeWindow) {
		this.closeWindow = closeWindow;
	}

	@Override
	public void registerWebSocketHandlers(WebSocketHandlerRegistry registry) {
		registry.addHandler(this, "/echo");
	}

	@Override
	public void afterConnectionEstablished(WebSocketSession session) {
		this.sessions.add(session);
	}

	@Override
	protected void handleTextMessage(WebSocketSession session, TextMessage message) throws IOException {
		session.sendMessage(new TextMessage(ProcessHandle.current().pid() + ": " + message.getPayload()));
	}

	@Override
	public void afterConnectionClosed(WebSocketSession session, CloseStatus status) {
		this.sessions.remove(session);
	}

	/** Closes every session with 1001, spread over the window; returns when all are closed. */
	@Override
	public void draining(Duration timeLeft) {
		List<WebSocketSession> open = List.copyOf(this.sessions);
		if (open.isEmpty()) {
			return;
		}
		Duration window = this.closeWindow.compareTo(timeLeft.dividedBy(4)) < 0 ? this.closeWindow
				: timeLeft.dividedBy(4);
		long pause = window.toNanos() / open.size();
		logger.info("Closing " + open.size() + " WebSocket session(s) with 1001 over " + window.toMillis() + " ms");
		for (WebSocketSession session : open) {
			try {
				session.close(CloseStatus.GOING_AWAY);
			}
			catch (IOException ex) {
				logger.warn("Cannot close WebSocket session " + session.getId() + ": " + ex);
			}
			try {
				Thread.sleep(pause / 1_000_000, (int) (pause % 1_000_000));
			}
			catch (InterruptedException ex) {
				Thread.currentThread().interrupt();
				return;
			}
		}
	}

}
