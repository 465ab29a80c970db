package dev.tableflip.spring.boot.it;

import java.util.List;

import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;

/**
 * The life of a reactive application on Reactor Netty (epoll). The events that are decided
 * before or apart from its server (a failed refresh, a failing warm-up's or health gate's
 * verdict, a certificate that cannot be read) run on Tomcat only: the server plays no part in
 * them, and the suite must fit in CI's time.
 */
class ReactorNettyUpgradeTest extends UpgradeUnderLoadTests {

	static final String SERVER_INDEPENDENT = "decided apart from the server: TomcatUpgradeTest runs it";

	@Override
	List<String> serverArguments() {
		// With Tomcat on the class path too, Boot 4.1 defines the reactive management child context
		// factory twice; a Netty-only application has no such clash.
		return List.of("--spring.main.web-application-type=reactive",
				"--spring.autoconfigure.exclude=org.springframework.boot.tomcat.autoconfigure.actuate.web.server."
						+ "TomcatReactiveManagementContextAutoConfiguration");
	}

	@Override
	boolean http2() {
		return true;
	}

	@Override
	@Test
	@Disabled(SERVER_INDEPENDENT)
	void newVersionWhoseWarmupFailsLeavesTheOldOneServing() {
	}

	@Override
	@Test
	@Disabled(SERVER_INDEPENDENT)
	void newVersionThatIsNotHealthyLeavesTheOldOneServing() {
	}

	@Override
	@Test
	@Disabled(SERVER_INDEPENDENT)
	void newVersionWhoseCertificateCannotBeReadLeavesTheOldOneServing() {
	}

}
