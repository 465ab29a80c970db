package dev.tableflip.spring.boot.it;

import java.util.List;

import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;

/**
 * The life of a reactive application on Reactor Netty's NIO transport instead of epoll: the
 * listener is adopted another way, and upgraded under load by endpoint and by signal. What the
 * transport plays no part in runs on epoll.
 */
class ReactorNettyNioUpgradeTest extends ReactorNettyUpgradeTest {

	@Override
	List<String> jvmOptions() {
		return List.of("-Dreactor.netty.native=false");
	}

	@Override
	@Test
	@Disabled("the intake is the same code on either transport (auto-read of the server channel): ReactorNettyUpgradeTest runs it")
	void newVersionThatFailsAfterItsServerStartedTookNoConnectionWithIt() {
	}

}
