package dev.tableflip.spring.boot.it;

import java.util.List;

/** Upgrades of a reactive application on Reactor Netty. */
class ReactorNettyUpgradeTest extends UpgradeUnderLoadTests {

	@Override
	List<String> serverArguments() {
		// With Tomcat on the class path too, Boot 4.1 defines the reactive management child context
		// factory twice; a Netty-only application has no such clash.
		return List.of("--spring.main.web-application-type=reactive",
				"--spring.autoconfigure.exclude=org.springframework.boot.tomcat.autoconfigure.actuate.web.server."
						+ "TomcatReactiveManagementContextAutoConfiguration");
	}

}
