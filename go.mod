module github.com/vipd/vipd

go 1.26.8
