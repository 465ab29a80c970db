package dev.tableflip.spring.boot.it;

import java.util.List;

/** Upgrades of a reactive application on Reactor Netty. */
class ReactorNettyUpgradeTest extends UpgradeUnderLoadTests {

	@Override
	List<String> serverArguments() {
		return List.of("--spring.main.web-application-type=reactive");
	}

}
