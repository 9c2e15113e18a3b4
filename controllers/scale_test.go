package controllers

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	analysisv1alpha1 "github.com/hama-operator/hama-operator/api/v1alpha1"
)

// The operator must stay prompt at scale: 1000 schedules on one API server all get their first run,
// and then keep to their intervals on the fake clock. The time to the first runs is printed for
// docs/performance.md; the assertions are about behaviour (every schedule ran, on its plan).
var _ = Describe("AnalysisSchedule controller at scale", Label("scale"), Ordered, func() {
	const (
		count    = 1000
		interval = 30 * time.Second
		ns       = "scale"
	)
	ctx := context.Background()
	var created time.Time

	BeforeAll(func() {
		Expect(k8sClient.Create(ctx, namespace(ns))).To(Succeed())
		created = time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, count)
		sem := make(chan struct{}, 16)
		for i := range count {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				s := newSchedule(fmt.Sprintf("s%04d", i), interval, fmt.Sprintf("SYM%dUSDT", i), "BTCUSDT")
				s.Namespace = ns
				errs <- k8sClient.Create(ctx, s)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			Expect(err).NotTo(HaveOccurred())
		}
		GinkgoWriter.Printf("SCALE created %d schedules in %s\n", count, time.Since(created).Round(time.Millisecond))
	})

	AfterAll(func() {
		Expect(k8sClient.DeleteAllOf(ctx, &analysisv1alpha1.AnalysisSchedule{}, client.InNamespace(ns))).To(Succeed())
		Eventually(func() int {
			var list analysisv1alpha1.AnalysisScheduleList
			Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
			return len(list.Items)
		}, "3m", "1s").Should(BeZero())
	})

	It("gives every schedule its first run", func() {
		Eventually(func() int {
			ran := 0
			for i := range count {
				if refresher.runCount(fmt.Sprintf("%s/s%04d", ns, i)) > 0 {
					ran++
				}
			}
			return ran
		}, "10m", "250ms").Should(Equal(count), "a deadline for a loaded machine, not a speed check")
		GinkgoWriter.Printf("SCALE all %d schedules had their first run %s after creation started\n",
			count, time.Since(created).Round(250*time.Millisecond))
	})

	It("keeps every schedule on its interval", func() {
		advanceUntil(interval+10*time.Second, func() bool {
			for i := range count {
				if refresher.runCount(fmt.Sprintf("%s/s%04d", ns, i)) < 2 {
					return false
				}
			}
			return true
		})
		gaps := make([]time.Duration, 0, count)
		for i := range count {
			runs := refresher.runTimes(fmt.Sprintf("%s/s%04d", ns, i))
			gaps = append(gaps, runs[1].Sub(runs[0]))
			Expect(refresher.everOverlapped(fmt.Sprintf("%s/s%04d", ns, i))).To(BeFalse())
		}
		slices.Sort(gaps)
		GinkgoWriter.Printf("SCALE gap between first and second run: min %s, median %s, max %s (interval %s)\n",
			gaps[0].Round(time.Millisecond), gaps[len(gaps)/2].Round(time.Millisecond), gaps[len(gaps)-1].Round(time.Millisecond), interval)
		Expect(gaps[0]).To(BeNumerically(">=", interval))
		Expect(gaps[len(gaps)-1]).To(BeNumerically("<", interval+10*time.Second))
	})
})
