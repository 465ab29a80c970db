package dev.tableflip.spring.boot.tomcat;

import java.nio.channels.ServerSocketChannel;
import java.util.concurrent.CompletionStage;

import org.apache.coyote.http11.Http11NioProtocol;

/**
 * Tomcat's HTTP/1.1 NIO protocol (HTTP/2 and TLS included, configured as usual) on a
 * listener that tableflip hands it. Installed with
 * {@code TomcatWebServerFactory#setProtocol(String)}.
 */
public class TableflipHttp11NioProtocol extends Http11NioProtocol {

	public TableflipHttp11NioProtocol() {
		super(new AdoptingNioEndpoint());
	}

	/**
	 * Accept from this listener instead of binding one, once {@code acceptGate} completes.
	 */
	public void adopt(ServerSocketChannel listener, CompletionStage<Void> acceptGate) {
		((AdoptingNioEndpoint) getEndpoint()).adopt(listener, acceptGate);
	}

	/** Whether a listener was adopted. */
	public boolean hasListener() {
		return ((AdoptingNioEndpoint) getEndpoint()).hasListener();
	}

}
