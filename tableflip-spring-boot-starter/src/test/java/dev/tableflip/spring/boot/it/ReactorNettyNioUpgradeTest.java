package dev.tableflip.spring.boot.it;

import java.util.List;

import org.junit.jupiter.api.Test;

/** Upgrades of a reactive application on Reactor Netty's NIO transport instead of epoll. */
class ReactorNettyNioUpgradeTest {

	@Test
	void threeUpgradesUnderLoadLoseNoRequestOnNio(@org.junit.jupiter.api.io.TempDir java.nio.file.Path directory)
			throws Exception {
		ReactorNettyUpgradeTest test = new ReactorNettyUpgradeTest();
		test.directory = directory;
		test.prepare();
		try {
			test.upgradeThreeTimesUnderLoad(List.of("-Dreactor.netty.native=false"));
		}
		finally {
			test.killEveryProcess();
		}
	}

}
