package dev.tableflip.spring.boot.tomcat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import dev.tableflip.spring.boot.DrainParticipant;
import dev.tableflip.spring.boot.TableflipUpgrader;
import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;

import org.springframework.boot.tomcat.TomcatWebServerFactory;
import org.springframework.boot.web.server.WebServerFactoryCustomizer;
import org.springframework.core.Ordered;

/**
 * Makes Tomcat accept from the listener tableflip gives it, and keep connections alive only
 * while tableflip's {@link dev.tableflip.spring.boot.KeepAlive} says so. It stops accepting
 * when the drain closes the registry's copy of the listener, and gives the drain its WebSocket
 * connections to close.
 */
public class TomcatListenerAdoption
		implements WebServerFactoryCustomizer<TomcatWebServerFactory>, DrainParticipant, Ordered {

	private static final Log logger = LogFactory.getLog(TomcatListenerAdoption.class);

	private final TableflipUpgrader upgrader;

	private final List<TableflipHttp11NioProtocol> protocols = new CopyOnWriteArrayList<>();

	public TomcatListenerAdoption(TableflipUpgrader upgrader) {
		this.upgrader = upgrader;
		upgrader.participate(this);
	}

	@Override
	public void customize(TomcatWebServerFactory factory) {
		String protocol = factory.getProtocol();
		if (!TomcatWebServerFactory.DEFAULT_PROTOCOL.equals(protocol)
				&& !TableflipHttp11NioProtocol.class.getName().equals(protocol)) {
			throw new IllegalStateException("tableflip cannot hand over the listener of Tomcat protocol " + protocol
					+ ": it adopts listeners for " + TomcatWebServerFactory.DEFAULT_PROTOCOL
					+ " only. Remove the custom protocol, or set tableflip.enabled=false.");
		}
		factory.setProtocol(TableflipHttp11NioProtocol.class.getName());
		factory.addProtocolHandlerCustomizers((handler) -> {
			if (handler instanceof TableflipHttp11NioProtocol adopting && !adopting.hasListener()) {
				adopting.adopt(listener(factory), this.upgrader.intake(), this.upgrader.keepAlive());
				this.protocols.add(adopting);
			}
		});
		if (!factory.getAdditionalConnectors().isEmpty()) {
			logger.warn("tableflip hands over the listener on server.port only; the "
					+ factory.getAdditionalConnectors().size()
					+ " additional Tomcat connector(s) bind their own ports and refuse connections during upgrades");
		}
	}

	private java.nio.channels.ServerSocketChannel listener(TomcatWebServerFactory factory) {
		try {
			return this.upgrader.listener(factory.getAddress(), factory.getPort());
		}
		catch (IOException ex) {
			throw new UncheckedIOException(ex);
		}
	}

	@Override
	public List<Runnable> openWebSockets() {
		return this.protocols.stream().flatMap((protocol) -> protocol.openWebSockets().stream()).toList();
	}

	@Override
	public int getOrder() {
		return Ordered.LOWEST_PRECEDENCE; // after Boot's customizers have set the port and address
	}

}
