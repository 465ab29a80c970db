package dev.tableflip.spring.boot.it;

import java.util.List;

import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;

/**
 * The life of a reactive application on Reactor Netty's NIO transport instead of epoll: the
 * listener is adopted another way. One upgrade under load, with requests in flight and the
 * overlap of both processes, in plain HTTP (the epoll life speaks HTTPS); what the transport
 * plays no part in runs on epoll.
 */
class ReactorNettyNioUpgradeTest extends ReactorNettyUpgradeTest {

	@Override
	boolean tls() {
		return false;
	}

	@Override
	List<String> jvmOptions() {
		return List.of("-Dreactor.netty.native=false");
	}

	private static final String TRANSPORT_INDEPENDENT = "the same on either transport: ReactorNettyUpgradeTest runs it";

	@Override
	@Test
	@Disabled("the intake is the same code on either transport (auto-read of the server channel): "
			+ "ReactorNettyUpgradeTest runs it")
	void newVersionThatFailsAfterItsServerStartedTookNoConnectionWithIt() {
	}

	@Override
	@Test
	@Disabled(TRANSPORT_INDEPENDENT)
	void upgradeBySignalToARenewedCertificateAndAReadOnlyEndpointAndTheLineageOfTheWholeLife() {
	}

}
