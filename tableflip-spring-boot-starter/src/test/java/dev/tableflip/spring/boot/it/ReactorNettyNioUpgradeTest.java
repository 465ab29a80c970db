package dev.tableflip.spring.boot.it;

import java.util.List;

import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;

/**
 * The life of a reactive application on Reactor Netty's NIO transport instead of epoll: the
 * listener is adopted another way. What the transport plays no part in runs on epoll.
 */
class ReactorNettyNioUpgradeTest extends ReactorNettyUpgradeTest {

	@Override
	List<String> jvmOptions() {
		return List.of("-Dreactor.netty.native=false");
	}

	@Override
	@Test
	@Disabled("the same on either transport: ReactorNettyUpgradeTest runs it")
	void upgradeBySignalToAVersionWhoseEndpointIsReadOnly() {
	}

}
