//go:build conformance

package specs

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Updating and removing an extension", Label("lua", "update"), func() {
	eachMode(func(m mode) {
		It("takes effect within 2s (local) on a live keep-alive connection without a listener update", func() {
			p := m.proxy()
			hot := func(v string) ext {
				return m.ext("hot").withPhase("STATS").withLua(responseHeaderScript("x-version", v))
			}
			apply("hot.yaml", hot("v1"))
			Eventually(func() string { return get(m.target(), "/", nil).Header.Get("x-version") }).
				WithTimeout(within).Should(Equal("v1"))

			// Let the listener settle (the extension's arrival replaced it), then measure.
			Eventually(func() int64 {
				n, _ := p.Stat("listener_manager.total_listeners_warming")
				return n
			}).WithTimeout(within).Should(BeZero())
			ka := dialKeepAlive(m.target())
			defer ka.close()
			Expect(ka.get("/", nil).Header.Get("x-version")).To(Equal("v1"))
			modified, err := p.Stat("listener_manager.listener_modified")
			Expect(err).NotTo(HaveOccurred())
			added, err := p.Stat("listener_manager.listener_added")
			Expect(err).NotTo(HaveOccurred())

			start := time.Now()
			apply("hot.yaml", hot("v2"))
			Eventually(func() string { return ka.get("/", nil).Header.Get("x-version") }).
				WithTimeout(liveUpdate).WithPolling(50 * time.Millisecond).Should(Equal("v2"))
			GinkgoWriter.Printf("%s: update visible on the live connection after %v\n", m.name, time.Since(start))

			Expect(p.Stat("listener_manager.listener_modified")).To(Equal(modified))
			Expect(p.Stat("listener_manager.listener_added")).To(Equal(added))
			Expect(ka.get("/", nil).Header.Get("x-version")).To(Equal("v2"))
		})

		It("stops acting once the resource is deleted", func() {
			apply("gone.yaml", m.ext("gone").withLua(requestHeaderScript("x-gone", "present")))
			Eventually(echoed).WithArguments(m.target(), "x-gone", noHeaders).WithTimeout(within).Should(Equal("present"))
			Expect(env.Delete("gone.yaml")).To(Succeed())
			Eventually(echoed).WithArguments(m.target(), "x-gone", noHeaders).WithTimeout(within).Should(BeEmpty())
			Consistently(func() bool { return inChain(m.proxy(), m.ns, "gone") }).
				WithTimeout(500 * time.Millisecond).Should(BeFalse())
		})
	})
})
