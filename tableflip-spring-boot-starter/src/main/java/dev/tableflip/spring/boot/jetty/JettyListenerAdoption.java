package dev.tableflip.spring.boot.jetty;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.ServerSocketChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

import dev.tableflip.spring.boot.DrainParticipant;
import dev.tableflip.spring.boot.TableflipUpgrader;
import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;
import org.eclipse.jetty.server.ConnectionFactory;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.NetworkConnectionLimit;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.websocket.api.Callback;
import org.eclipse.jetty.websocket.api.Session;
import org.eclipse.jetty.websocket.api.StatusCode;
import org.eclipse.jetty.websocket.api.WebSocketContainer;

import org.springframework.boot.jetty.JettyWebServerFactory;
import org.springframework.boot.web.server.WebServerFactoryCustomizer;
import org.springframework.core.Ordered;
import org.springframework.util.ClassUtils;

/**
 * Makes Jetty (servlet or reactive) accept from the listener tableflip gives it: the
 * connector Spring Boot built for the factory's port is replaced, before the server starts, by
 * one with the same settings and connection factories that accepts from that listener. Its
 * responses say {@code Connection: close} when tableflip's
 * {@link dev.tableflip.spring.boot.KeepAlive} says so, and it takes part in the drain: the
 * connector stops accepting, and the WebSocket sessions of Jetty's containers (Spring
 * WebSocket's, and any endpoint of Jetty's own API) are closed one after another.
 */
public class JettyListenerAdoption
		implements WebServerFactoryCustomizer<JettyWebServerFactory>, DrainParticipant, Ordered {

	private static final Log logger = LogFactory.getLog(JettyListenerAdoption.class);

	private final TableflipUpgrader upgrader;

	private final List<ServerConnector> connectors = new CopyOnWriteArrayList<>();

	private final List<Server> servers = new CopyOnWriteArrayList<>();

	/** The WebSocket sessions the drain listed to be closed (Jetty's {@code Session}s). */
	private final Set<Object> listedWebSockets = ConcurrentHashMap.newKeySet();

	public JettyListenerAdoption(TableflipUpgrader upgrader) {
		this.upgrader = upgrader;
		upgrader.participate(this);
	}

	@Override
	public void customize(JettyWebServerFactory factory) {
		if (factory.getAcceptors() == 0) {
			throw new IllegalStateException("tableflip hands the listener over to a Jetty acceptor thread, but "
					+ "server.jetty.threads.acceptors is 0. Leave it unset (1 acceptor) or set it to 1 or more.");
		}
		// Boot applies the server customizers after it built the connector (and after TLS replaced it).
		factory.addServerCustomizers((server) -> adopt(server, factory));
	}

	private void adopt(Server server, JettyWebServerFactory factory) {
		if (factory.getPort() < 0) {
			return; // this server does not listen
		}
		int port = factory.getPort();
		List<Connector> connectors = new ArrayList<>(List.of(server.getConnectors()));
		ServerConnector original = connectors.stream()
			.filter((connector) -> connector instanceof ServerConnector candidate && candidate.getPort() == port)
			.map(ServerConnector.class::cast)
			.findFirst()
			.orElseThrow(() -> new IllegalStateException("tableflip found no Jetty connector for port " + port
					+ " to hand over; the server has " + connectors));
		AdoptingServerConnector adopting = new AdoptingServerConnector(original, listener(factory),
				this.upgrader.intake());
		for (ConnectionFactory connectionFactory : adopting.getConnectionFactories()) {
			if (connectionFactory instanceof HttpConfiguration.ConnectionFactory http) {
				HttpConfiguration configuration = http.getHttpConfiguration();
				if (configuration.getCustomizer(ConnectionCloseCustomizer.class) == null) {
					configuration.addCustomizer(new ConnectionCloseCustomizer(this.upgrader.keepAlive()));
				}
			}
		}
		connectors.set(connectors.indexOf(original), adopting);
		server.setConnectors(connectors.toArray(Connector[]::new));
		limitConnectionsOf(server, adopting);
		this.connectors.add(adopting);
		this.servers.add(server);
		if (connectors.size() > 1) {
			logger.warn("tableflip hands over the listener on port " + port + " only; the " + (connectors.size() - 1)
					+ " other Jetty connector(s) bind their own ports and refuse connections during upgrades");
		}
	}

	private ServerSocketChannel listener(JettyWebServerFactory factory) {
		try {
			return this.upgrader.listener(factory.getAddress(), factory.getPort());
		}
		catch (IOException ex) {
			throw new UncheckedIOException(ex);
		}
	}

	/**
	 * Boot's {@code server.jetty.max-connections} limit was built for the connector just
	 * replaced: the same limit, for the connector that serves instead.
	 */
	private static void limitConnectionsOf(Server server, ServerConnector adopting) {
		for (NetworkConnectionLimit limit : server.getBeans(NetworkConnectionLimit.class)) {
			NetworkConnectionLimit replacement = new NetworkConnectionLimit(limit.getMaxNetworkConnectionCount(),
					adopting);
			replacement.setEndPointIdleTimeout(limit.getEndPointIdleTimeout());
			server.removeBean(limit);
			server.addBean(replacement);
		}
	}

	/** Stops accepting; the connections accepted so far are served until Boot's graceful shutdown ends. */
	@Override
	public void stopAccepting() {
		for (ServerConnector connector : this.connectors) {
			connector.setAccepting(false);
		}
	}

	/** The open sessions of every WebSocket container, those not listed before, each closed with 1001. */
	@Override
	public List<Runnable> openWebSockets() {
		if (!ClassUtils.isPresent("org.eclipse.jetty.websocket.api.WebSocketContainer",
				JettyListenerAdoption.class.getClassLoader())) {
			return List.of(); // the application has no WebSocket
		}
		return this.servers.stream()
			.flatMap((server) -> WebSockets.closes(server, this.listedWebSockets).stream())
			.toList();
	}

	@Override
	public int getOrder() {
		return Ordered.LOWEST_PRECEDENCE; // after Boot's customizers have set the port, address and acceptors
	}

	/** Kept apart: Jetty's WebSocket classes are there only when the application has WebSockets. */
	private static final class WebSockets {

		/**
		 * The sessions of every WebSocket container in the server that are not in {@code listed}
		 * yet (they are added), each closed with 1001 (going away).
		 */
		static List<Runnable> closes(Server server, Set<Object> listed) {
			List<Runnable> closes = new ArrayList<>();
			for (WebSocketContainer container : server.getContainedBeans(WebSocketContainer.class)) {
				for (Session session : container.getOpenSessions()) {
					if (listed.add(session)) {
						closes.add(() -> session.close(StatusCode.SHUTDOWN, "going away", Callback.NOOP));
					}
				}
			}
			return closes;
		}

	}

}
