package main

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// writeSQL writes a pg_dump-style text dump of a shop: customers, products,
// a year of orders and their items (~500 MB at scale 1). Every row is
// generated from its table and ID, so the -day version differs only where
// a day of business changes it: a new day of orders and items, the status
// of the last week's orders, and about 0.1% of customers' emails.
func writeSQL(path string, scale float64, day bool) error {
	w, err := create(path)
	if err != nil {
		return err
	}
	customers := int(1_000_000 * scale)
	products := int(50_000 * scale)
	perDay := int(9_800 * scale)
	days := 365
	if day {
		days++
	}
	pcg := rand.NewPCG(0, 0)
	r := rand.New(pcg)
	row := func(table, id uint64) { pcg.Seed(table, id) }
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var b []byte
	flush := func() error {
		_, err := w.Write(b)
		b = b[:0]
		return err
	}

	b = append(b, "--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = 'UTF8';\n\n"...)
	b = append(b, "CREATE TABLE public.customers (id bigint NOT NULL, name text, email text, city text, created_at timestamp);\n"...)
	b = append(b, "CREATE TABLE public.products (id bigint NOT NULL, name text, description text, price numeric(10,2));\n"...)
	b = append(b, "CREATE TABLE public.orders (id bigint NOT NULL, customer_id bigint, status text, total numeric(10,2), created_at timestamp);\n"...)
	b = append(b, "CREATE TABLE public.order_items (order_id bigint, product_id bigint, quantity integer, price numeric(10,2));\n\n"...)

	b = append(b, "COPY public.customers (id, name, email, city, created_at) FROM stdin;\n"...)
	for id := 1; id <= customers; id++ {
		row(1, uint64(id))
		first, last := word(r), word(r)
		b = strconv.AppendInt(b, int64(id), 10)
		b = append(b, '\t')
		b = append(b, first+" "+last...)
		b = append(b, '\t')
		b = append(b, first+"."+last...)
		// About 0.1% of customers change their email each day.
		if r2 := rand.New(rand.NewPCG(uint64(days), uint64(id))); r2.IntN(1000) == 0 {
			b = append(b, "+"+strconv.Itoa(days)...)
		}
		b = append(b, "@example.com\t"...)
		b = append(b, word(r)...)
		b = append(b, '\t')
		b = start.Add(-time.Duration(r.IntN(5*365*24))*time.Hour).AppendFormat(b, "2006-01-02 15:04:05")
		b = append(b, '\n')
		if len(b) > 1<<20 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	b = append(b, "\\.\n\nCOPY public.products (id, name, description, price) FROM stdin;\n"...)
	for id := 1; id <= products; id++ {
		row(2, uint64(id))
		b = strconv.AppendInt(b, int64(id), 10)
		b = append(b, '\t')
		b = append(b, word(r)+" "+word(r)+"\t"...)
		b = appendText(b, r, 100+r.IntN(200))
		b[len(b)-1] = '\t'
		b = fmt.Appendf(b, "%d.%02d\n", 1+r.IntN(500), r.IntN(100))
	}
	b = append(b, "\\.\n\nCOPY public.orders (id, customer_id, status, total, created_at) FROM stdin;\n"...)
	for id := 1; id <= days*perDay; id++ {
		row(3, uint64(id))
		d := (id - 1) / perDay
		b = strconv.AppendInt(b, int64(id), 10)
		b = append(b, '\t')
		b = strconv.AppendInt(b, int64(1+r.IntN(customers)), 10)
		switch age := days - 1 - d; {
		case age < 1:
			b = append(b, "\tpending\t"...)
		case age < 3:
			b = append(b, "\tpaid\t"...)
		case age < 7:
			b = append(b, "\tshipped\t"...)
		default:
			b = append(b, "\tdelivered\t"...)
		}
		b = fmt.Appendf(b, "%d.%02d\t", 5+r.IntN(900), r.IntN(100))
		b = start.Add(time.Duration(d)*24*time.Hour+time.Duration(r.IntN(86400))*time.Second).AppendFormat(b, "2006-01-02 15:04:05")
		b = append(b, '\n')
		if len(b) > 1<<20 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	b = append(b, "\\.\n\nCOPY public.order_items (order_id, product_id, quantity, price) FROM stdin;\n"...)
	for id := 1; id <= days*perDay; id++ {
		row(4, uint64(id))
		for range 1 + r.IntN(5) {
			b = strconv.AppendInt(b, int64(id), 10)
			b = append(b, '\t')
			b = strconv.AppendInt(b, int64(1+r.IntN(products)), 10)
			b = fmt.Appendf(b, "\t%d\t%d.%02d\n", 1+r.IntN(4), 1+r.IntN(500), r.IntN(100))
		}
		if len(b) > 1<<20 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	b = append(b, "\\.\n\nALTER TABLE ONLY public.customers ADD CONSTRAINT customers_pkey PRIMARY KEY (id);\n"...)
	b = append(b, "ALTER TABLE ONLY public.orders ADD CONSTRAINT orders_pkey PRIMARY KEY (id);\n"...)
	if err := flush(); err != nil {
		return err
	}
	return w.Close()
}
